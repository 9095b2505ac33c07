// SMTP replies: one immutable type that formats (server side) and parses (client side) the wire form.
using System.Buffers;
using System.Text;

namespace Mta.Protocol;

/// <summary>
/// An SMTP reply: a three-digit code, an optional enhanced status code (repeated on every line)
/// and one or more text lines. Immutable; the wire form is built once and reused.
/// </summary>
public sealed class SmtpReply
{
    // Client-side bound: real servers exceed 512 octets now and then, but a reply line without an end is hostile.
    private const int MaxParsedReplyLine = 4096;
    private const int MaxParsedReplyLines = 1000;

    private byte[]? _wire;

    /// <summary>Creates a reply.</summary>
    /// <param name="code">200 to 599, second digit 0 to 5.</param>
    /// <param name="enhancedCode">An RFC 3463 code whose class matches the code's first digit, or null.</param>
    /// <param name="lines">Text lines; none means a single empty line. Control characters are replaced when written.</param>
    public SmtpReply(int code, string? enhancedCode, params string[] lines)
    {
        if (code is < 200 or > 599 || code / 10 % 10 > 5)
            throw new ArgumentOutOfRangeException(nameof(code), code, "Reply code must be 200 to 599.");
        if (enhancedCode is not null)
        {
            if (!EnhancedStatusCode.TryParse(enhancedCode, out var esc))
                throw new ArgumentException($"'{enhancedCode}' is not an enhanced status code.", nameof(enhancedCode));
            if (esc.Class != code / 100)
                throw new ArgumentException($"Enhanced code {enhancedCode} does not match the class of {code}.", nameof(enhancedCode));
        }
        Code = code;
        EnhancedCode = enhancedCode;
        Lines = lines is null || lines.Length == 0 ? [string.Empty] : Array.ConvertAll(lines, l => l ?? string.Empty);
    }

    /// <summary>Creates a reply with a typed enhanced status code.</summary>
    public SmtpReply(int code, EnhancedStatusCode enhancedCode, params string[] lines)
        : this(code, enhancedCode.ToString(), lines)
    {
    }

    /// <summary>Creates a reply whose text may hold several lines separated by LF or CRLF (as hooks give them).</summary>
    public static SmtpReply FromText(int code, string? enhancedCode, string? text) =>
        new(code, enhancedCode, (text ?? string.Empty).ReplaceLineEndings("\n").Split('\n'));

    /// <summary>The three-digit reply code.</summary>
    public int Code { get; }

    /// <summary>The enhanced status code such as <c>2.0.0</c>, or null.</summary>
    public string? EnhancedCode { get; }

    /// <summary>The text lines as given (before sanitising and wrapping).</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>2xx (and 3xx intermediate) replies.</summary>
    public bool IsPositive => Code < 400;

    /// <summary>4xx: transient negative.</summary>
    public bool IsTransient => Code is >= 400 and < 500;

    /// <summary>5xx: permanent negative.</summary>
    public bool IsPermanent => Code >= 500;

    /// <summary>Writes the wire form (every line ends with CRLF, none longer than <see cref="SmtpLimits.MaxReplyLine"/>).</summary>
    /// <returns>The number of bytes written.</returns>
    public int WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var wire = GetWireBytes().Span;
        writer.Write(wire);
        return wire.Length;
    }

    /// <summary>The wire form as UTF-8 bytes; do not modify the array.</summary>
    public ReadOnlyMemory<byte> GetWireBytes() => _wire ??= Format();

    /// <summary>The wire form, CRLFs included.</summary>
    public override string ToString() => Encoding.UTF8.GetString(GetWireBytes().Span);

    private byte[] Format()
    {
        var prefixLength = 4 + (EnhancedCode is null ? 0 : EnhancedCode.Length + 1);
        var maxText = SmtpLimits.MaxReplyLine - 2 - prefixLength;
        var physical = new List<string>();
        foreach (var line in Lines)
            Wrap(Sanitise(line), maxText, physical);

        var sb = new StringBuilder();
        var codeText = Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < physical.Count; i++)
        {
            var last = i == physical.Count - 1;
            sb.Append(codeText);
            var text = physical[i];
            if (EnhancedCode is null && text.Length == 0)
            {
                // "250" alone is a valid last line; "250-" a valid continuation (RFC 5321 4.2).
                if (!last) sb.Append('-');
            }
            else
            {
                sb.Append(last ? ' ' : '-');
                if (EnhancedCode is not null)
                {
                    sb.Append(EnhancedCode);
                    if (text.Length > 0) sb.Append(' ');
                }
                sb.Append(text);
            }
            sb.Append("\r\n");
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static string Sanitise(string text)
    {
        var bad = false;
        foreach (var c in text)
        {
            if (c < 0x20 || c == 0x7F) { bad = true; break; }
        }
        if (!bad) return text;
        return string.Create(text.Length, text, static (dest, src) =>
        {
            for (var i = 0; i < src.Length; i++)
                dest[i] = src[i] < 0x20 || src[i] == 0x7F ? ' ' : src[i];
        });
    }

    // Splits text into pieces of at most maxOctets UTF-8 octets, preferring to break at a space.
    private static void Wrap(string text, int maxOctets, List<string> output)
    {
        var rest = text.AsSpan();
        while (Encoding.UTF8.GetByteCount(rest) > maxOctets)
        {
            // Longest prefix that fits, never splitting a surrogate pair.
            int fit = 0, octets = 0;
            while (fit < rest.Length)
            {
                var width = char.IsHighSurrogate(rest[fit]) && fit + 1 < rest.Length && char.IsLowSurrogate(rest[fit + 1]) ? 2 : 1;
                var size = Encoding.UTF8.GetByteCount(rest.Slice(fit, width));
                if (octets + size > maxOctets) break;
                octets += size;
                fit += width;
            }
            var space = rest[..Math.Min(fit + 1, rest.Length)].LastIndexOf(' ');
            if (space > 0)
            {
                output.Add(rest[..space].ToString());
                rest = rest[(space + 1)..];
            }
            else
            {
                output.Add(rest[..fit].ToString());
                rest = rest[fit..];
            }
        }
        output.Add(rest.ToString());
    }

    /// <summary>
    /// Reads one complete, possibly multi-line reply from the front of <paramref name="buffer"/> (client side).
    /// On success the buffer is advanced past it. Lines may end in CRLF or a bare LF. When every line starts
    /// with the first line's enhanced status code (matching the reply class), it becomes <see cref="EnhancedCode"/>
    /// and is removed from the lines.
    /// </summary>
    /// <param name="buffer">Received bytes; advanced only on success.</param>
    /// <param name="reply">The reply, or null.</param>
    /// <param name="malformed">True when the bytes cannot be an SMTP reply (bad code, mixed codes, over-long line): close the connection.</param>
    /// <returns>True when a whole reply was read; false when more bytes are needed or the input is malformed.</returns>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, out SmtpReply? reply, out bool malformed)
    {
        reply = null;
        malformed = false;
        var reader = new SequenceReader<byte>(buffer);
        var texts = new List<string>();
        var code = -1;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                malformed = reader.Remaining > MaxParsedReplyLine;
                return false;
            }
            if (line.Length > MaxParsedReplyLine || texts.Count >= MaxParsedReplyLines) { malformed = true; return false; }
            var bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
            if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
            if (bytes.Length < 3 || !IsDigit(bytes[0]) || !IsDigit(bytes[1]) || !IsDigit(bytes[2])) { malformed = true; return false; }
            var lineCode = (bytes[0] - '0') * 100 + (bytes[1] - '0') * 10 + (bytes[2] - '0');
            if (lineCode is < 200 or > 599 || lineCode / 10 % 10 > 5 || (code >= 0 && lineCode != code)) { malformed = true; return false; }
            code = lineCode;
            bool last;
            ReadOnlySpan<byte> text;
            if (bytes.Length == 3) { last = true; text = default; }
            else if (bytes[3] == ' ') { last = true; text = bytes[4..]; }
            else if (bytes[3] == '-') { last = false; text = bytes[4..]; }
            else { malformed = true; return false; }
            texts.Add(Encoding.UTF8.GetString(text));
            if (last) break;
        }

        string? enhanced = null;
        var first = texts[0];
        var firstSpace = first.IndexOf(' ');
        var candidate = firstSpace < 0 ? first : first[..firstSpace];
        if (EnhancedStatusCode.TryParse(candidate, out var esc) && esc.Class == code / 100 && texts.TrueForAll(t => StartsWithCode(t, candidate)))
        {
            enhanced = candidate;
            for (var i = 0; i < texts.Count; i++)
                texts[i] = texts[i].Length > candidate.Length ? texts[i][(candidate.Length + 1)..] : string.Empty;
        }
        reply = new SmtpReply(code, enhanced, [.. texts]);
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    private static bool StartsWithCode(string text, string code) =>
        text.StartsWith(code, StringComparison.Ordinal) && (text.Length == code.Length || text[code.Length] == ' ');

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';
}
