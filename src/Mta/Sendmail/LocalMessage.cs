// A message as sendmail(1) reads it from standard input: line ends made CRLF, the "." rule, and the header fix-ups
// Postfix's cleanup applies to local mail (-t recipients, Bcc removed, Date, Message-ID and From added when missing).
using MimeKit;
using MimeKit.Utils;

namespace Mta.Sendmail;

/// <summary>The message a local submitter gave, and the recipients its header names.</summary>
public static class LocalMessage
{
    private static readonly ParserOptions Lenient = new() { AllowAddressesWithoutDomain = true, AddressParserComplianceMode = RfcComplianceMode.Looser };

    /// <summary>Reads a message from <paramref name="input"/>: every line end becomes CRLF, and unless
    /// <paramref name="ignoreDots"/> a line holding a single <c>.</c> ends the message (sendmail's rule without -i).
    /// Null when it is longer than <paramref name="maxBytes"/>.</summary>
    public static async Task<byte[]?> ReadAsync(Stream input, bool ignoreDots, long maxBytes, CancellationToken cancellationToken)
    {
        var output = new MemoryStream();
        var line = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        var ended = false;
        while (!ended && (n = await input.ReadAsync(buffer, cancellationToken)) > 0)
        {
            var span = buffer.AsSpan(0, n);
            while (!span.IsEmpty)
            {
                var lf = span.IndexOf((byte)'\n');
                if (lf < 0)
                {
                    line.Write(span);
                    break;
                }
                line.Write(span[..lf]);
                span = span[(lf + 1)..];
                if (EndLine(line, output, ignoreDots))
                {
                    ended = true;
                    break;
                }
                if (output.Length > maxBytes) return null;
            }
        }
        // A last line without its line end still belongs to the message.
        if (!ended && line.Length > 0) EndLine(line, output, ignoreDots);
        return output.Length > maxBytes ? null : output.ToArray();
    }

    // Ends one line; true when it is the lone dot that ends the message.
    private static bool EndLine(MemoryStream line, MemoryStream output, bool ignoreDots)
    {
        var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (!bytes.IsEmpty && bytes[^1] == '\r') bytes = bytes[..^1];
        line.SetLength(0);
        if (!ignoreDots && bytes is [(byte)'.']) return true;
        output.Write(bytes);
        output.Write("\r\n"u8);
        return false;
    }

    /// <summary>The header fields and the body of <paramref name="message"/> (CRLF line ends). A first line that is
    /// not a header field starts the body, as Postfix's cleanup takes it.</summary>
    public static (HeaderList Header, ReadOnlyMemory<byte> Body) Split(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        var position = 0;
        var headerEnd = 0;
        var bodyStart = 0;
        while (true)
        {
            if (position >= span.Length)
            {
                headerEnd = bodyStart = span.Length;
                break;
            }
            var lf = span[position..].IndexOf((byte)'\n');
            var next = lf < 0 ? span.Length : position + lf + 1;
            var line = span[position..next].TrimEnd("\r\n"u8);
            if (line.IsEmpty)
            {
                headerEnd = position;
                bodyStart = next;
                break;
            }
            var continuation = line[0] is (byte)' ' or (byte)'\t';
            if (!(continuation && position > 0) && !IsFieldStart(line))
            {
                headerEnd = bodyStart = position;
                break;
            }
            position = next;
        }
        var header = headerEnd == 0 ? new HeaderList() : HeaderList.Load(new MemoryStream(message[..headerEnd].ToArray()));
        return (header, message[bodyStart..]);
    }

    // A field name is printable ASCII except the colon (RFC 5322 2.2), then a colon; Postfix allows blanks before it.
    private static bool IsFieldStart(ReadOnlySpan<byte> line)
    {
        var colon = line.IndexOf((byte)':');
        if (colon <= 0) return false;
        var name = line[..colon].TrimEnd(" \t"u8);
        if (name.IsEmpty) return false;
        foreach (var b in name)
        {
            if (b is < 33 or > 126) return false;
        }
        return true;
    }

    /// <summary>The recipients <c>-t</c> takes from the header: those of Resent-To, Resent-Cc and Resent-Bcc when any
    /// Resent- field is present (a resent message goes to its new recipients only), else of To, Cc and Bcc. Groups give
    /// their members; a bad field gives what MimeKit can make of it. Local parts without a domain are returned as they are.</summary>
    public static IReadOnlyList<string> HeaderRecipients(HeaderList header)
    {
        var resent = header.Any(h => h.Field.StartsWith("Resent-", StringComparison.OrdinalIgnoreCase));
        var fields = resent ? new[] { HeaderId.ResentTo, HeaderId.ResentCc, HeaderId.ResentBcc } : [HeaderId.To, HeaderId.Cc, HeaderId.Bcc];
        var result = new List<string>();
        foreach (var field in header.Where(h => fields.Contains(h.Id)))
        {
            if (!InternetAddressList.TryParse(Lenient, field.RawValue, out var list)) continue;
            foreach (var mailbox in list.Mailboxes)
            {
                if (!string.IsNullOrWhiteSpace(mailbox.Address)) result.Add(mailbox.Address);
            }
        }
        return result;
    }

    /// <summary>Parses one recipient argument of the command line (<c>a@b</c>, <c>Name &lt;a@b&gt;</c>, or several
    /// separated by commas); false when it holds no address.</summary>
    public static bool TryParseAddresses(string text, out IReadOnlyList<string> addresses)
    {
        addresses = [];
        if (!InternetAddressList.TryParse(Lenient, text, out var list)) return false;
        var found = list.Mailboxes.Select(m => m.Address).Where(a => !string.IsNullOrWhiteSpace(a)).ToList();
        addresses = found;
        return found.Count > 0;
    }

    /// <summary>An address with <c>@</c><paramref name="hostName"/> appended when it is a bare local name.</summary>
    public static string Qualify(string address, string hostName) =>
        address.Length == 0 || address.Contains('@') ? address : address + "@" + hostName;

    /// <summary>
    /// The message as it goes into the maildrop: Bcc and Resent-Bcc removed (when <paramref name="removeBcc"/>: -t, as
    /// Postfix's cleanup removes them for -t), and Date, Message-ID and From added when missing. From is
    /// <c>"Full Name" &lt;from&gt;</c> with <paramref name="fullName"/> from -F.
    /// </summary>
    public static byte[] FixUp(ReadOnlyMemory<byte> message, bool removeBcc, string from, string? fullName, string hostName, DateTimeOffset now)
    {
        var (header, body) = Split(message);
        if (removeBcc)
        {
            header.RemoveAll(HeaderId.Bcc);
            header.RemoveAll(HeaderId.ResentBcc);
        }
        var resent = header.Any(h => h.Field.StartsWith("Resent-", StringComparison.OrdinalIgnoreCase));
        // For a resent message the Resent- fields are the new ones (RFC 5322 3.6.6); the original's stay as they are.
        if (!header.Contains(resent ? HeaderId.ResentFrom : HeaderId.From))
            header.Add(resent ? HeaderId.ResentFrom : HeaderId.From, new MailboxAddress(fullName ?? "", from).ToString());
        if (!header.Contains(resent ? HeaderId.ResentDate : HeaderId.Date))
            header.Add(resent ? HeaderId.ResentDate : HeaderId.Date, DateUtils.FormatDate(now));
        if (!header.Contains(resent ? HeaderId.ResentMessageId : HeaderId.MessageId))
            header.Add(resent ? HeaderId.ResentMessageId : HeaderId.MessageId, "<" + MimeUtils.GenerateMessageId(hostName) + ">");
        var output = new MemoryStream(message.Length + 512);
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        // HeaderList.WriteTo ends with the empty line that separates the header from the body.
        header.WriteTo(format, output);
        output.Write(body.Span);
        return output.ToArray();
    }
}
