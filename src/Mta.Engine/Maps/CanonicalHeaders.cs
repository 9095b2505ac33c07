// Canonical rewriting of the address fields of a header section (From, Sender, Reply-To; To, Cc), byte-exact elsewhere.
using System.Buffers;
using System.Text;
using MimeKit;
using Mta.Abstractions;

namespace Mta.Engine.Maps;

/// <summary>A rewritten header section: the new octets, how many of the old they replace, and the fields changed.</summary>
internal sealed record RewrittenHeader(byte[] Header, long ReplacedLength, int Fields);

/// <summary>
/// Rewrites the addresses in the address fields of a header section by the canonical maps: From, Sender and Reply-To
/// (and their Resent- forms) by the sender maps, To and Cc (and Resent-) by the recipient maps. Only a field whose
/// address changed is written anew (its display names kept, MIME-encoded as needed); every other octet of the header
/// stays as it came.
/// </summary>
internal static class CanonicalHeaders
{
    private static readonly FormatOptions Format = CreateFormat();

    /// <summary>The rewritten header of <paramref name="head"/> (the first octets of the message), or null when no
    /// field changed or no complete header section is there.</summary>
    public static RewrittenHeader? Rewrite(ReadOnlySequence<byte> head, CanonicalMaps maps)
    {
        var bytes = head.ToArray();
        var end = HeaderEnd(bytes);
        if (end < 0) return null;
        var output = new MemoryStream(end + 256);
        var changed = 0;
        var start = 0;
        while (start < end)
        {
            var next = FieldEnd(bytes, start, end);
            var field = bytes.AsSpan(start, next - start);
            var colon = field.IndexOf((byte)':');
            var rewrite = colon > 0 ? RewriterOf(Encoding.ASCII.GetString(field[..colon]).Trim(), maps) : null;
            if (rewrite is not null && RewriteField(field, colon, rewrite) is { } replacement)
            {
                output.Write(replacement);
                changed++;
            }
            else
            {
                output.Write(field);
            }
            start = next;
        }
        return changed == 0 ? null : new RewrittenHeader(output.ToArray(), end, changed);
    }

    private static Func<SmtpAddress, SmtpAddress>? RewriterOf(string name, CanonicalMaps maps)
    {
        if (name.StartsWith("Resent-", StringComparison.OrdinalIgnoreCase)) name = name[7..];
        if (name.Equals("From", StringComparison.OrdinalIgnoreCase) || name.Equals("Sender", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Reply-To", StringComparison.OrdinalIgnoreCase))
            return maps.RewriteSender;
        if (name.Equals("To", StringComparison.OrdinalIgnoreCase) || name.Equals("Cc", StringComparison.OrdinalIgnoreCase))
            return maps.RewriteRecipient;
        return null;
    }

    private static byte[]? RewriteField(ReadOnlySpan<byte> field, int colon, Func<SmtpAddress, SmtpAddress> rewrite)
    {
        var value = field[(colon + 1)..].ToArray();
        if (!InternetAddressList.TryParse(ParserOptions.Default, value, out var list)) return null;
        var any = false;
        foreach (var mailbox in list.Mailboxes)
        {
            var at = mailbox.Address.LastIndexOf('@');
            if (at <= 0) continue;
            var address = new SmtpAddress(mailbox.LocalPart, mailbox.Domain);
            var rewritten = rewrite(address);
            if (rewritten == address) continue;
            mailbox.Address = rewritten.Domain.Length == 0 ? rewritten.LocalPart : rewritten.LocalPart + "@" + rewritten.Domain;
            any = true;
        }
        if (!any) return null;
        var name = Encoding.ASCII.GetString(field[..colon]);
        var header = new Header(name, "");
        header.SetValue(Format, Encoding.UTF8, list.ToString(Format, encode: false));
        return Encoding.UTF8.GetBytes(name + ":" + Encoding.ASCII.GetString(header.RawValue));
    }

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }

    // The offset just past the CRLF that ends the last field (before the empty line), or -1 without one.
    private static int HeaderEnd(byte[] bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == '\r' && bytes[1] == '\n') return 0;
        var blank = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        return blank < 0 ? -1 : blank + 2;
    }

    // A field runs to the CRLF not followed by white space (a folded line continues it).
    private static int FieldEnd(byte[] bytes, int start, int end)
    {
        var i = start;
        while (i < end)
        {
            var crlf = bytes.AsSpan(i, end - i).IndexOf("\r\n"u8);
            if (crlf < 0) return end;
            i += crlf + 2;
            if (i >= end || (bytes[i] != ' ' && bytes[i] != '\t')) return i;
        }
        return end;
    }
}
