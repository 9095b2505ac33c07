// Builds delivery status notifications (RFC 3464 in a RFC 6522 multipart/report) with MimeKit, and their spool bytes.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Utils;
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Bounces;

/// <summary>
/// Builds a DSN: a <c>multipart/report; report-type=delivery-status</c> with a text explanation, a
/// <c>message/delivery-status</c> part and the original message (whole or its header only, per RET and size).
/// </summary>
public static class DsnBuilder
{
    // Caps what a header-only return reads of the original: a message without a blank line would otherwise
    // be read whole. Far above any header the receiver accepts (Limits:MaxHeaderBytes defaults to 100 KiB).
    private const int MaxReturnedHeaderBytes = 1024 * 1024;
    private const int WrapColumn = 72;

    /// <summary>
    /// Builds the DSN. The original is read once through <see cref="IMessageContent.OpenRead"/>; an original that
    /// cannot be read or parsed still gives a DSN (with its raw header as text, or without it).
    /// </summary>
    /// <param name="request">What to report.</param>
    /// <param name="ct">Cancels reading the original.</param>
    /// <exception cref="ArgumentException">The request is incomplete: no recipients, no reporting host, a null member.</exception>
    public static async Task<MimeMessage> BuildAsync(DsnRequest request, CancellationToken ct)
    {
        Validate(request);
        var returned = await ReadOriginalAsync(request, ct).ConfigureAwait(false);

        // Start from no header fields so they come out in a readable order (the default constructor adds Date and
        // Message-Id first).
        var message = new MimeMessage(Enumerable.Empty<Header>());
        message.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + request.ReportingMta));
        message.To.Add(new MailboxAddress((string?)null, request.To.ToString()));
        message.Subject = SubjectFor(request);
        message.Date = request.Now;
        message.MessageId = NewMessageId(request);
        if (returned.MessageId is { } originalId)
        {
            // RFC 3834 3.1.5: a response names what it responds to, so mail readers can thread it.
            message.InReplyTo = originalId;
            message.References.Add(originalId);
        }
        message.Headers.Add("Auto-Submitted", "auto-replied");
        message.MimeVersion = new Version(1, 0);

        var report = new MultipartReport("delivery-status")
        {
            BuildTextPart(request, returned),
            BuildStatusPart(request),
        };
        if (returned.Part is not null) report.Add(returned.Part);
        message.Body = report;
        return message;
    }

    /// <summary>The message as the spool stores it: CRLF line ends only, not dot-stuffed, ending with CRLF.</summary>
    /// <param name="message">The DSN (or any message).</param>
    public static byte[] ToWireBytes(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        options.EnsureNewLine = true;
        using var buffer = new MemoryStream();
        message.WriteTo(options, buffer);
        return NormalizeLineEnds(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private static void Validate(DsnRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ReportingMta, nameof(request));
        if (request.QueueId is null) throw new ArgumentException("QueueId is null.", nameof(request));
        if (request.OriginalSender is null) throw new ArgumentException("OriginalSender is null.", nameof(request));
        if (request.To is null || request.To.IsNull) throw new ArgumentException("To is null or the null path <>.", nameof(request));
        if (request.OriginalMessage is null) throw new ArgumentException("OriginalMessage is null.", nameof(request));
        if (request.Recipients is null || request.Recipients.Count == 0)
            throw new ArgumentException("A DSN reports on at least one recipient.", nameof(request));
        foreach (var r in request.Recipients)
        {
            if (r?.Recipient?.Address is null)
                throw new ArgumentException("A DSN recipient or its address is null.", nameof(request));
        }
    }

    private static bool IsSuccess(DsnAction action) => action is DsnAction.Delivered or DsnAction.Relayed or DsnAction.Expanded;

    private static string SubjectFor(DsnRequest request)
    {
        var subject = request.Recipients.Any(r => r.Action == DsnAction.Failed) ? "Undelivered Mail Returned to Sender"
            : request.Recipients.Any(r => r.Action == DsnAction.Delayed) ? "Delayed Mail (still being retried)"
            : "Successful Mail Delivery Report";
        return request.IsDoubleBounce ? "Postmaster Copy: " + subject : subject;
    }

    private static string NewMessageId(DsnRequest request)
    {
        // Time and queue id help an operator match the DSN to the log; the random part keeps a second DSN about the
        // same message (delay, then failure) distinct.
        var queueId = new string(request.QueueId.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_').ToArray());
        var random = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var left = request.Now.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture)
            + (queueId.Length > 0 ? "." + queueId : "") + "." + random;
        return left + "@" + request.ReportingMta;
    }

    // ---- Part 1: the explanation for people ----

    private static TextPart BuildTextPart(DsnRequest request, Returned returned)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {request.ReportingMta}.\n\n");
        var your = request.IsDoubleBounce ? "the" : "your";
        var yourCap = request.IsDoubleBounce ? "The" : "Your";

        if (request.IsDoubleBounce)
        {
            AppendParagraph(text,
                "This is a copy for the postmaster. The original sender was <> (the message was itself a bounce or "
                + "another automatic notification), so this report cannot go back to its sender and goes to the "
                + "postmaster instead.");
        }

        foreach (var action in (DsnAction[])[DsnAction.Failed, DsnAction.Delayed, DsnAction.Delivered, DsnAction.Relayed, DsnAction.Expanded])
        {
            var group = request.Recipients.Where(r => r.Action == action).ToList();
            if (group.Count == 0) continue;
            AppendParagraph(text, action switch
            {
                DsnAction.Failed =>
                    $"I'm sorry to have to inform you that {your} message could not be delivered to one or more "
                    + "recipients. The reasons are listed below. If you need help, forward this report to the "
                    + "postmaster of your own mail system.",
                DsnAction.Delayed =>
                    $"{yourCap} message has not yet been delivered to one or more recipients, because of a temporary "
                    + "problem. The mail system will keep trying"
                    + (group.Max(r => r.WillRetryUntil) is { } until ? " until " + DateUtils.FormatDate(until) : "")
                    + "; there is no need to send the message again. A final report follows if it still cannot be "
                    + "delivered by then.",
                DsnAction.Delivered =>
                    $"{yourCap} message was successfully delivered to the recipients listed below, as a delivery "
                    + "status notification was requested.",
                DsnAction.Relayed =>
                    $"{yourCap} message was successfully relayed to the recipients listed below. The next mail system "
                    + "does not report on delivery, so no further notice about them may follow.",
                _ =>
                    $"{yourCap} message was successfully delivered to the mailing lists or aliases listed below, which "
                    + "passed it on to their members.",
            });
            foreach (var r in group)
            {
                var detail = OneLine(r.Detail) ?? OneLine(r.DiagnosticCode) ?? DefaultDetail(action, StatusOf(r));
                // Continuation lines indented, as Postfix does, so each recipient stands out.
                AppendWrapped(text, $"<{r.Recipient.Address}>: {detail}", "    ");
            }
            text.Append('\n');
        }

        AppendParagraph(text, returned.Kind switch
        {
            ReturnedKind.Full => $"{yourCap} original message is attached.",
            ReturnedKind.Headers when returned.TooLarge =>
                $"Only the header of {your} original message is attached: the whole message is larger than "
                + $"{request.ReturnSizeLimit} octets.",
            ReturnedKind.Headers => $"The header of {your} original message is attached.",
            ReturnedKind.RawHeaders =>
                $"The header of {your} original message could not be parsed; it is attached as plain text.",
            _ => $"{yourCap} original message could not be read, so it is not attached.",
        });

        text.Length--; // one line end after the last paragraph, not a blank line
        var part = new TextPart(MimeKit.Text.TextFormat.Plain);
        part.SetText(Encoding.UTF8, text.ToString());
        part.ContentDescription = "Notification";
        // UTF-8 addresses or replies get quoted-printable, so the DSN stays 7-bit when the original is; an
        // unbreakable long ASCII word alone (up to the SMTP line limit) is no reason to encode.
        part.ContentTransferEncoding = part.GetBestEncoding(EncodingConstraint.SevenBit, 998);
        return part;
    }

    private static string DefaultDetail(DsnAction action, string status) => action switch
    {
        DsnAction.Failed => $"delivery failed (status {status})",
        DsnAction.Delayed => $"delivery temporarily deferred (status {status})",
        DsnAction.Delivered => "delivered",
        DsnAction.Relayed => "relayed",
        _ => "expanded",
    };

    private static void AppendParagraph(StringBuilder text, string paragraph)
    {
        AppendWrapped(text, paragraph, "");
        text.Append('\n');
    }

    /// <summary>Appends the words of <paramref name="content"/> in lines of at most <see cref="WrapColumn"/>
    /// characters (a longer word gets a line of its own), continuation lines starting with
    /// <paramref name="indent"/>, and a line end.</summary>
    private static void AppendWrapped(StringBuilder text, string content, string indent)
    {
        var column = 0;
        foreach (var word in content.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (column > indent.Length && column + 1 + word.Length > WrapColumn)
            {
                text.Append('\n').Append(indent);
                column = indent.Length;
            }
            else if (column > 0)
            {
                text.Append(' ');
                column++;
            }
            text.Append(word);
            column += word.Length;
        }
        text.Append('\n');
    }

    // ---- Part 2: the machine-readable report ----

    private static MessageDeliveryStatus BuildStatusPart(DsnRequest request)
    {
        var part = new MessageDeliveryStatus();
        part.Headers.Add(HeaderId.ContentDescription, "Delivery report");

        // Field order follows the grammar of RFC 3464 section 2.2 (extension fields last).
        var perMessage = new HeaderList();
        if (OneLine(request.EnvelopeId) is { } envid) perMessage.Add("Original-Envelope-Id", Ascii(envid));
        perMessage.Add("Reporting-MTA", "dns; " + Ascii(request.ReportingMta));
        if (OneLine(request.ReceivedFromMta) is { } helo) perMessage.Add("Received-From-MTA", "dns; " + Ascii(helo));
        perMessage.Add("Arrival-Date", DateUtils.FormatDate(request.ArrivalDate));
        perMessage.Add("X-Mta-Queue-ID", Ascii(request.QueueId));
        part.StatusGroups.Add(perMessage);

        foreach (var r in request.Recipients)
        {
            var group = new HeaderList();
            if (OriginalRecipientField(r.Recipient.OriginalRecipient) is { } orcpt) group.Add("Original-Recipient", orcpt);
            group.Add("Final-Recipient", FinalRecipientField(r.Recipient.Address));
            group.Add("Action", r.Action.ToString().ToLowerInvariant());
            group.Add("Status", StatusOf(r));
            if (RemoteMtaName(r.RemoteMta) is { } remote) group.Add("Remote-MTA", "dns; " + remote);
            if (OneLine(r.DiagnosticCode) is { } reply) group.Add("Diagnostic-Code", "smtp; " + Ascii(reply));
            else if (OneLine(r.Detail) is { } detail) group.Add("Diagnostic-Code", "X-Mta; " + Ascii(detail));
            if (r.LastAttempt is { } last) group.Add("Last-Attempt-Date", DateUtils.FormatDate(last));
            // RFC 3464 2.3.9: only a "delayed" report says how long the MTA keeps trying.
            if (r.Action == DsnAction.Delayed && r.WillRetryUntil is { } until) group.Add("Will-Retry-Until", DateUtils.FormatDate(until));
            part.StatusGroups.Add(group);
        }
        DropTrailingBlankLine(part);
        return part;
    }

    /// <summary>
    /// MimeKit ends every status group with a blank line, the last one too. RFC 3464 only separates groups, and the
    /// extra blank line parses back (in MimeKit itself) as an empty recipient group, so it is cut off.
    /// </summary>
    private static void DropTrailingBlankLine(MessageDeliveryStatus part)
    {
        if (part.Content is null) return;
        using var decoded = new MemoryStream();
        part.Content.DecodeTo(decoded);
        var bytes = decoded.ToArray();
        var length = bytes.Length;
        if (bytes.AsSpan().EndsWith("\n\n"u8)) length -= 1;
        else if (bytes.AsSpan().EndsWith("\r\n\r\n"u8)) length -= 2;
        if (length == bytes.Length) return;
        part.Content = new MimeContent(new MemoryStream(bytes, 0, length, writable: false));
    }

    // A success reports a 2.x.x code, whatever an agent or the journal said (RFC 3464 2.3.4, RFC 3463 class 2), and a
    // failure or delay never a success code. A delay is always class 4; a failure keeps a class 4 code, as Postfix and
    // Sendmail do for a message that expired (4.4.7, or the last temporary error).
    private static string StatusOf(DsnRecipient r)
    {
        var wanted = r.Action switch { DsnAction.Failed => '5', DsnAction.Delayed => '4', _ => '2' };
        if (!DsnPolicy.IsValidStatus(r.Status)) return wanted + ".0.0";
        var given = r.Status[0];
        if (given == wanted || (wanted == '5' && given == '4')) return r.Status;
        return wanted == '2' || given == '2' ? wanted + ".0.0" : wanted + r.Status[1..];
    }

    /// <summary><c>rfc822; addr</c>, or <c>utf-8; addr</c> in the 7-bit utf-8-addr-xtext form of RFC 6533 when the
    /// address is not ASCII (message/delivery-status stays ASCII; only message/global-delivery-status may carry UTF-8).</summary>
    private static string FinalRecipientField(SmtpAddress address)
    {
        var text = address.ToString();
        return IsAscii(text) ? "rfc822; " + StripControls(text) : "utf-8; " + Utf8AddrXtext(text, escapeSpecials: true);
    }

    /// <summary>The ORCPT as given (<c>addr-type;address</c>). A non-ASCII address becomes <c>utf-8;</c> xtext: no
    /// other address type may carry it, and this part must stay ASCII.</summary>
    private static string? OriginalRecipientField(string? orcpt)
    {
        orcpt = OneLine(orcpt);
        if (orcpt is null) return null;
        var semi = orcpt.IndexOf(';', StringComparison.Ordinal);
        var type = semi > 0 ? orcpt[..semi].Trim() : "rfc822";
        var address = (semi >= 0 ? orcpt[(semi + 1)..] : orcpt).Trim();
        if (address.Length == 0) return null;
        if (type.Length == 0 || !type.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')) type = "rfc822";
        if (IsAscii(address)) return type + ";" + address;
        // A given utf-8 address may already hold \x{...} escapes: escaping its backslashes again would double them.
        var wasUtf8 = type.Equals("utf-8", StringComparison.OrdinalIgnoreCase);
        return (wasUtf8 ? type : "utf-8") + ";" + Utf8AddrXtext(address, escapeSpecials: !wasUtf8);
    }

    /// <summary>RFC 6533 utf-8-addr-xtext: non-ASCII, space and (optionally) <c>\ + =</c> as <c>\x{HEX}</c>.</summary>
    private static string Utf8AddrXtext(string address, bool escapeSpecials)
    {
        var sb = new StringBuilder(address.Length + 16);
        foreach (var rune in address.EnumerateRunes())
        {
            var v = rune.Value;
            if (v < 0x20 || v == 0x7F) continue; // controls have no place in an address and no xtext form
            if (v >= 0x80 || v == ' ' || (escapeSpecials && v is '\\' or '+' or '='))
                sb.Append(CultureInfo.InvariantCulture, $"\\x{{{v:X2}}}");
            else
                sb.Append((char)v);
        }
        return sb.ToString();
    }

    /// <summary>The host name of <c>mx.example.org[192.0.2.1]:25</c>; an address literal stays as it is.</summary>
    private static string? RemoteMtaName(string? remote)
    {
        remote = OneLine(remote);
        if (remote is null) return null;
        if (!remote.StartsWith('['))
        {
            var bracket = remote.IndexOf('[', StringComparison.Ordinal);
            if (bracket > 0) remote = remote[..bracket];
        }
        else if (remote.IndexOf(']', StringComparison.Ordinal) is var close and > 0)
        {
            remote = remote[..(close + 1)];
        }
        return Ascii(remote);
    }

    // ---- Part 3: the original ----

    private enum ReturnedKind { Full, Headers, RawHeaders, Unreadable }

    private sealed record Returned(ReturnedKind Kind, MimeEntity? Part, bool TooLarge, string? MessageId);

    private static async Task<Returned> ReadOriginalAsync(DsnRequest request, CancellationToken ct)
    {
        // RFC 3461 4.3: without RET, failures and delays return the whole message; a success report returns only the
        // header unless RET=FULL asked for more, since the sender already has the message.
        var wantFull = request.Ret switch
        {
            DsnReturn.Full => true,
            DsnReturn.Headers => false,
            _ => request.Recipients.Any(r => !IsSuccess(r.Action)),
        };
        var limit = Math.Max(0, request.ReturnSizeLimit);
        var tooLarge = wantFull && request.OriginalMessage.Size > limit;
        var full = wantFull && !tooLarge;

        byte[] bytes;
        try
        {
            var stream = request.OriginalMessage.OpenRead();
            await using (stream.ConfigureAwait(false))
            {
                // One more octet than allowed tells a Size that understated the message.
                bytes = full
                    ? await ReadAsync(stream, limit + 1L, stopAtHeaderEnd: false, ct).ConfigureAwait(false)
                    : await ReadAsync(stream, MaxReturnedHeaderBytes, stopAtHeaderEnd: true, ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
        {
            return new Returned(ReturnedKind.Unreadable, null, tooLarge, null);
        }
        if (full && bytes.Length > limit)
        {
            full = false;
            tooLarge = true;
        }

        if (full)
        {
            try
            {
                // persistent: the parsed parts refer to the buffer instead of copying it.
                var original = await MimeMessage.LoadAsync(new MemoryStream(bytes, writable: false), persistent: true, ct).ConfigureAwait(false);
                var part = new MessagePart("rfc822") { Message = original };
                part.Headers.Add(HeaderId.ContentDescription, "Original message");
                return new Returned(ReturnedKind.Full, part, false, SafeMessageId(original));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                return RawHeaders(bytes, tooLarge);
            }
        }

        var headerBytes = bytes.AsSpan(0, HeaderSectionLength(bytes, MaxReturnedHeaderBytes)).ToArray();
        try
        {
            var headers = await HeaderList.LoadAsync(new MemoryStream(headerBytes, writable: false), ct).ConfigureAwait(false);
            // A message of header fields only: text/rfc822-headers writes its header and no body.
            var original = new MimeMessage((IEnumerable<Header>)headers);
            var part = new TextRfc822Headers { Message = original };
            part.Headers.Add(HeaderId.ContentDescription, "Original message header");
            return new Returned(ReturnedKind.Headers, part, tooLarge, SafeMessageId(original));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return RawHeaders(headerBytes, tooLarge);
        }
    }

    /// <summary>The unparsable header section as text: UTF-8 when it is valid UTF-8, else Latin-1 (which keeps every
    /// octet), transfer-encoded to 7 bits.</summary>
    private static Returned RawHeaders(byte[] bytes, bool tooLarge)
    {
        var length = HeaderSectionLength(bytes, MaxReturnedHeaderBytes);
        var section = bytes.AsSpan(0, length);
        string charset, text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(section);
            charset = "utf-8";
        }
        catch (DecoderFallbackException)
        {
            text = Encoding.Latin1.GetString(section);
            charset = "iso-8859-1";
        }
        var part = new TextPart(MimeKit.Text.TextFormat.Plain);
        part.SetText(charset, text);
        part.ContentDescription = "Original message header (unparsable)";
        part.ContentTransferEncoding = part.GetBestEncoding(EncodingConstraint.SevenBit);
        return new Returned(ReturnedKind.RawHeaders, part, tooLarge, null);
    }

    private static string? SafeMessageId(MimeMessage original)
    {
        try
        {
            var id = original.MessageId;
            return string.IsNullOrWhiteSpace(id) || !IsAscii(id) ? null : id;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Reads at most <paramref name="max"/> octets; with <paramref name="stopAtHeaderEnd"/>, stops once the
    /// blank line after the header has been read, so a large body is never read.</summary>
    private static async Task<byte[]> ReadAsync(Stream stream, long max, bool stopAtHeaderEnd, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (buffer.Length < max)
        {
            var want = (int)Math.Min(chunk.Length, max - buffer.Length);
            var n = await stream.ReadAsync(chunk.AsMemory(0, want), ct).ConfigureAwait(false);
            if (n == 0) break;
            var scanFrom = (int)Math.Max(0, buffer.Length - 2);
            buffer.Write(chunk, 0, n);
            if (stopAtHeaderEnd && HasHeaderEnd(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), scanFrom)) break;
        }
        return buffer.ToArray();
    }

    private static bool HasHeaderEnd(ReadOnlySpan<byte> data, int from)
    {
        if (from == 0 && data.Length > 0 && (data[0] == '\n' || (data.Length > 1 && data[0] == '\r' && data[1] == '\n'))) return true;
        return data[from..].IndexOf("\n\r\n"u8) >= 0 || data[from..].IndexOf("\n\n"u8) >= 0;
    }

    /// <summary>Octets up to and including the blank line that ends the header; all of them when there is none. When
    /// that is more than <paramref name="cap"/>, up to the last line end within it.</summary>
    private static int HeaderSectionLength(ReadOnlySpan<byte> data, int cap)
    {
        var pos = 0;
        while (pos < data.Length)
        {
            var nl = data[pos..].IndexOf((byte)'\n');
            if (nl < 0) break;
            var line = data.Slice(pos, nl);
            var end = pos + nl + 1;
            if (end > cap) return pos > 0 ? pos : Math.Min(cap, data.Length);
            if (line.IsEmpty || (line.Length == 1 && line[0] == '\r')) return end;
            pos = end;
        }
        return Math.Min(cap, data.Length);
    }

    // ---- Text helpers ----

    /// <summary>The text on one line (CR, LF and other controls become spaces), trimmed; null when empty.</summary>
    private static string? OneLine(string? text)
    {
        if (text is null) return null;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text) sb.Append(char.IsControl(c) ? ' ' : c);
        var s = sb.ToString().Trim();
        return s.Length == 0 ? null : s;
    }

    /// <summary>Non-ASCII characters as <c>?</c>: DSN fields are US-ASCII (RFC 3464 section 2.1.1), and MimeKit would
    /// otherwise RFC 2047-encode them.</summary>
    private static string Ascii(string text)
    {
        var line = OneLine(text) ?? "";
        return IsAscii(line) ? line : string.Create(line.Length, line, static (span, s) =>
        {
            for (var i = 0; i < s.Length; i++) span[i] = s[i] < 0x80 ? s[i] : '?';
        });
    }

    private static string StripControls(string text) => new(text.Where(c => !char.IsControl(c)).ToArray());

    private static bool IsAscii(string text) => System.Text.Ascii.IsValid(text);

    /// <summary>Every CR and LF as part of a CRLF pair, and a final CRLF: the spool's form of a message.</summary>
    private static byte[] NormalizeLineEnds(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream(data.Length + 2);
        for (var i = 0; i < data.Length; i++)
        {
            var b = data[i];
            if (b == '\r')
            {
                output.Write("\r\n"u8);
                if (i + 1 < data.Length && data[i + 1] == '\n') i++;
            }
            else if (b == '\n')
            {
                output.Write("\r\n"u8);
            }
            else
            {
                output.WriteByte(b);
            }
        }
        if (output.Length < 2 || !output.GetBuffer().AsSpan((int)output.Length - 2, 2).SequenceEqual("\r\n"u8)) output.Write("\r\n"u8);
        return output.ToArray();
    }
}
