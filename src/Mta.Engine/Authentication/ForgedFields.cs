// Finds header fields a sender must not be able to set: Authentication-Results under our authserv-id, our quarantine mark.
using System.Buffers;
using System.Text;

namespace Mta.Engine.Authentication;

/// <summary>
/// RFC 8601 5: a receiver removes incoming <c>Authentication-Results:</c> fields that claim its own authserv-id, or a
/// forged "pass" would reach the reader's filters with the server's name on it. The same goes for
/// <see cref="QuarantineMark.FieldName"/>, which local delivery acts on.
/// </summary>
public static class ForgedFields
{
    /// <summary>The (offset, length) ranges of the fields to remove, in order; empty for nearly every message. Reads
    /// only the header section.</summary>
    public static List<(long Offset, long Length)> Find(ReadOnlySequence<byte> message, string authServId)
    {
        var found = new List<(long, long)>();
        var reader = new SequenceReader<byte>(message);
        long fieldStart = -1;
        var fieldIsForged = false;
        while (true)
        {
            var lineStart = reader.Consumed;
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
            {
                Close(reader.Consumed);
                break;
            }
            var length = line.Length;
            if (length > 0 && line.Slice(length - 1).FirstSpan[0] == '\r') length--;
            var continuation = length > 0 && line.FirstSpan[0] is (byte)' ' or (byte)'\t';
            if (continuation) continue;
            Close(lineStart);
            if (length == 0) break; // the blank line: the body starts
            fieldStart = lineStart;
            fieldIsForged = IsForged(message, lineStart, authServId);
        }
        return found;

        void Close(long end)
        {
            if (fieldStart >= 0 && fieldIsForged) found.Add((fieldStart, end - fieldStart));
            fieldStart = -1;
            fieldIsForged = false;
        }
    }

    /// <summary>The message with the given ranges left out.</summary>
    public static byte[] Remove(ReadOnlySequence<byte> message, List<(long Offset, long Length)> ranges)
    {
        var kept = message.Length - ranges.Sum(r => r.Length);
        var result = new byte[kept];
        var at = 0;
        long position = 0;
        foreach (var (offset, length) in ranges)
        {
            message.Slice(position, offset - position).CopyTo(result.AsSpan(at));
            at += (int)(offset - position);
            position = offset + length;
        }
        message.Slice(position).CopyTo(result.AsSpan(at));
        return result;
    }

    private static bool IsForged(ReadOnlySequence<byte> message, long fieldStart, string authServId)
    {
        // Field names are short; read just enough of the first line to compare them.
        var head = message.Slice(fieldStart, Math.Min(message.Length - fieldStart, 4096));
        Span<byte> name = stackalloc byte[64];
        var prefixLength = (int)Math.Min(head.Length, name.Length);
        head.Slice(0, prefixLength).CopyTo(name);
        var colon = name[..prefixLength].IndexOf((byte)':');
        if (colon <= 0) return false;
        var fieldName = name[..colon].TrimEnd(" \t"u8);
        if (Ascii.EqualsIgnoreCase(fieldName, Encoding.ASCII.GetBytes(QuarantineMark.FieldName)))
            return true;
        if (!Ascii.EqualsIgnoreCase(fieldName, "Authentication-Results"u8))
            return false;
        // The authserv-id may sit on a continuation line; decode the whole field (bounded) to find it.
        var value = head.Slice(colon + 1);
        var text = Encoding.Latin1.GetString(value.Slice(0, Math.Min(value.Length, 1024)));
        return AuthenticationResultsField.ClaimsAuthServId(text, authServId);
    }
}
