// Turns a queued message into what a terminal may show: its text part, stripped of anything that could drive a terminal, cut to size.
using System.Globalization;
using System.Net;
using System.Text;
using MimeKit;
using Mta.Abstractions;

namespace Mta.Engine.Terminal;

/// <summary>
/// Builds <see cref="TerminalMessage"/>s and sanitises terminal text. A terminal interprets escape sequences (cursor
/// moves, colour, window titles, OSC 52 clipboard writes, "report" sequences that type into the shell), so nothing from a
/// message may reach it but printable text, newlines and tabs.
/// </summary>
public static class TerminalText
{
    /// <summary>Shown when a message has neither a text/plain nor a text/html part.</summary>
    public const string NoTextPart = "(no text part)";

    /// <summary>Longest subject kept, in characters; a subject is one line of a header, not a second body.</summary>
    public const int MaxSubjectChars = 200;

    /// <summary>
    /// The message as a terminal shows it: the sender, the sanitised one-line subject, and the text of its text/plain part
    /// (else its text/html part with the markup crudely removed, else <see cref="NoTextPart"/>), sanitised and limited to
    /// <paramref name="maxTextBytes"/> UTF-8 octets.
    /// </summary>
    /// <param name="from">The envelope sender.</param>
    /// <param name="content">The stored message.</param>
    /// <param name="maxTextBytes">Limit of the text (<c>Terminal:MaxTextBytes</c>); at least 64.</param>
    /// <param name="cancellationToken">Cancels the parse.</param>
    public static async ValueTask<TerminalMessage> FromMessageAsync(SmtpAddress from, IMessageContent content, int maxTextBytes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(content);
        var message = await content.GetMimeMessageAsync(cancellationToken);
        return FromMimeMessage(from, message, maxTextBytes);
    }

    /// <summary>As <see cref="FromMessageAsync(SmtpAddress, IMessageContent, int, CancellationToken)"/> for a queued message and its reverse-path.</summary>
    public static ValueTask<TerminalMessage> FromMessageAsync(IQueuedMessage message, int maxTextBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return FromMessageAsync(message.ReversePath, message.Content, maxTextBytes, cancellationToken);
    }

    /// <summary>As <see cref="FromMessageAsync(SmtpAddress, IMessageContent, int, CancellationToken)"/> for a parsed message.</summary>
    public static TerminalMessage FromMimeMessage(SmtpAddress from, MimeMessage message, int maxTextBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTextBytes, 64);
        string text;
        if (message.TextBody is { } plain) text = plain;
        else if (message.HtmlBody is { } html) text = HtmlToText(html);
        else text = NoTextPart;
        text = Sanitize(text).Trim('\n');
        if (text.Length == 0) text = NoTextPart;
        var subject = message.Subject is { } s ? Sanitize(s, singleLine: true).Trim() : null;
        if (subject is { Length: > MaxSubjectChars }) subject = TruncateChars(subject, MaxSubjectChars) + "...";
        return new TerminalMessage(from, string.IsNullOrEmpty(subject) ? null : subject, Limit(text, maxTextBytes));
    }

    /// <summary>
    /// Removes everything a terminal would act on: ESC and the escape sequence it starts (CSI, OSC, DCS, SOS, PM, APC and
    /// the short forms), their 8-bit C1 forms (U+0080-U+009F, e.g. U+009B CSI), every other C0 control but newline and tab,
    /// DEL, and the Unicode bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) that make text read
    /// differently from what it is. CRLF and a lone CR become a newline (a CR would let text overwrite the line shown
    /// before it); a lone surrogate becomes U+FFFD.
    /// </summary>
    /// <param name="text">Any text.</param>
    /// <param name="singleLine">Newlines and tabs become spaces too (a subject or an address).</param>
    public static string Sanitize(string? text, bool singleLine = false)
    {
        if (string.IsNullOrEmpty(text)) return string.Empty;
        if (IsClean(text, singleLine)) return text;
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '\n':
                    sb.Append(singleLine ? ' ' : '\n');
                    break;
                case '\t':
                    sb.Append(singleLine ? ' ' : '\t');
                    break;
                case '\r':
                    if (i + 1 < text.Length && text[i + 1] == '\n') i++;
                    sb.Append(singleLine ? ' ' : '\n');
                    break;
                case '\u001b':
                    i = SkipEscape(text, i + 1) - 1;
                    break;
                // C1 introducers of string sequences: their content goes too, up to the terminator.
                case '\u0090' or '\u0098' or '\u009d' or '\u009e' or '\u009f':
                    i = SkipString(text, i + 1) - 1;
                    break;
                // C1 CSI: its parameters and final byte go too.
                case '\u009b':
                    i = SkipControlSequence(text, i + 1) - 1;
                    break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        sb.Append(c).Append(text[++i]);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        sb.Append('\uFFFD');
                    }
                    else if (!IsRemoved(c))
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Cuts <paramref name="text"/> to at most <paramref name="maxBytes"/> UTF-8 octets, never inside a character (nor a
    /// surrogate pair), ending a cut text with a line <c>[... N more bytes]</c> (counted within the limit; N is the octets
    /// left out).
    /// </summary>
    public static string Limit(string text, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 64);
        var total = Encoding.UTF8.GetByteCount(text);
        if (total <= maxBytes) return text;
        // The note's length depends on N, N on the cut: reserve room for the largest N (the whole text), which is enough.
        var reserve = Encoding.UTF8.GetByteCount(Note(total));
        var keep = CharsWithin(text, maxBytes - reserve);
        var kept = text[..keep];
        var omitted = total - Encoding.UTF8.GetByteCount(kept);
        return kept + Note(omitted);
    }

    private static string Note(int omitted) => "\n[... " + omitted.ToString(CultureInfo.InvariantCulture) + " more bytes]";

    // How many chars of text fit in budget UTF-8 octets, without splitting a surrogate pair.
    private static int CharsWithin(string text, int budget)
    {
        var bytes = 0;
        var i = 0;
        while (i < text.Length)
        {
            int width, chars;
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) (width, chars) = (4, 2);
            else if (c < 0x80) (width, chars) = (1, 1);
            else if (c < 0x800) (width, chars) = (2, 1);
            else (width, chars) = (3, 1);
            if (bytes + width > budget) break;
            bytes += width;
            i += chars;
        }
        return i;
    }

    private static string TruncateChars(string text, int max)
    {
        var cut = max;
        if (char.IsLowSurrogate(text[cut]) && cut > 0) cut--;
        return text[..cut];
    }

    private static bool IsClean(string text, bool singleLine)
    {
        foreach (var c in text)
        {
            if (c is '\n' or '\t') { if (singleLine) return false; continue; }
            if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || IsBidi(c) || char.IsSurrogate(c)) return false;
        }
        return true;
    }

    private static bool IsRemoved(char c) => c < 0x20 || (c >= 0x7f && c <= 0x9f) || IsBidi(c);

    private static bool IsBidi(char c) => c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');

    // After ESC: the index just past the sequence it starts (ECMA-48 / ECMA-35 forms).
    private static int SkipEscape(string text, int i)
    {
        if (i >= text.Length) return i;
        var c = text[i];
        switch (c)
        {
            case '[':
                return SkipControlSequence(text, i + 1);
            case ']' or 'P' or 'X' or '^' or '_':
                return SkipString(text, i + 1);
        }
        // nF: intermediates 0x20-0x2F, then one final 0x30-0x7E (e.g. ESC ( B, ESC # 8); Fp/Fe/Fs: one byte (ESC 7, ESC c).
        while (i < text.Length && text[i] is >= ' ' and <= '/') i++;
        if (i < text.Length && text[i] is >= '0' and <= '~') i++;
        return i;
    }

    // CSI: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, one final byte 0x40-0x7E. Anything else ends it early.
    private static int SkipControlSequence(string text, int i)
    {
        while (i < text.Length && text[i] is >= '0' and <= '?') i++;
        while (i < text.Length && text[i] is >= ' ' and <= '/') i++;
        if (i < text.Length && text[i] is >= '@' and <= '~') i++;
        return i;
    }

    // OSC, DCS, SOS, PM, APC: up to ST (ESC \ or U+009C) or BEL (xterm's OSC end), which go too; a newline ends it
    // (kept) so that an unterminated sequence costs one line of text, not the rest of the message.
    private static int SkipString(string text, int i)
    {
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\u0007' or '\u009c') return i + 1;
            if (c == '\u001b') return i + 1 < text.Length && text[i + 1] == '\\' ? i + 2 : i + 1;
            if (c is '\n' or '\r') return i;
        }
        return i;
    }

    /// <summary>
    /// Crude HTML to text, in one linear pass (no regular expressions a hostile part could make slow): script, style and
    /// head elements and comments dropped, block elements and &lt;br&gt; as line breaks, other tags removed, source line
    /// breaks and runs of spaces as one space (as a browser would), entities decoded.
    /// </summary>
    internal static string HtmlToText(string html)
    {
        var sb = new StringBuilder(html.Length);
        var i = 0;
        while (i < html.Length)
        {
            var c = html[i];
            if (c != '<')
            {
                var next = html.IndexOf('<', i);
                if (next < 0) next = html.Length;
                AppendDecoded(sb, html.AsSpan(i, next - i));
                i = next;
                continue;
            }
            if (html.AsSpan(i).StartsWith("<!--"))
            {
                var end = html.IndexOf("-->", i + 4, StringComparison.Ordinal);
                i = end < 0 ? html.Length : end + 3;
                continue;
            }
            var close = html.IndexOf('>', i + 1);
            if (close < 0) break;
            var name = TagName(html.AsSpan(i + 1, close - i - 1), out var isEnd);
            i = close + 1;
            if (!isEnd && name is "script" or "style" or "head" or "title")
            {
                // Skipped to its end tag; a missing one drops the rest, as a browser would not show it either.
                var end = html.IndexOf("</" + name, i, StringComparison.OrdinalIgnoreCase);
                if (end < 0) break;
                var endClose = html.IndexOf('>', end);
                i = endClose < 0 ? html.Length : endClose + 1;
                continue;
            }
            if (name is "br" or "p" or "div" or "li" or "tr" or "table" or "hr" or "h1" or "h2" or "h3" or "h4" or "h5" or "h6"
                or "ul" or "ol" or "blockquote" or "pre")
                sb.Append('\n');
        }
        // Spaces around line breaks go, and at most one empty line in a row stays.
        var lines = sb.ToString().Split('\n').Select(l => l.Trim(' '));
        var result = new StringBuilder(sb.Length);
        var blank = 0;
        foreach (var line in lines)
        {
            if (line.Length == 0)
            {
                if (++blank > 1 || result.Length == 0) continue;
            }
            else
            {
                blank = 0;
            }
            result.Append(line).Append('\n');
        }
        return result.ToString().Trim('\n');
    }

    // Text between tags: entities decoded, any whitespace run as one space.
    private static void AppendDecoded(StringBuilder sb, ReadOnlySpan<char> raw)
    {
        var decoded = raw.Contains('&') ? WebUtility.HtmlDecode(raw.ToString()) : raw.ToString();
        foreach (var ch in decoded)
        {
            var space = ch is ' ' or '\t' or '\r' or '\n' or '\u00a0';
            if (space)
            {
                if (sb.Length > 0 && sb[^1] is not (' ' or '\n')) sb.Append(' ');
            }
            else
            {
                sb.Append(ch);
            }
        }
    }

    // "<a href=...>" gives "a"; "</P>" gives "p" and isEnd.
    private static string TagName(ReadOnlySpan<char> inside, out bool isEnd)
    {
        inside = inside.TrimStart();
        isEnd = inside.StartsWith("/");
        if (isEnd) inside = inside[1..].TrimStart();
        var length = 0;
        while (length < inside.Length && length < 16 && char.IsAsciiLetterOrDigit(inside[length])) length++;
        return inside[..length].ToString().ToLowerInvariant();
    }
}
