// Checks a received message's header section against the configured limits: size, field count, hop count.
using System.Buffers;
using Mta.Engine.Configuration;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal static class HeaderLimits
{
    /// <summary>The refusal for a header over a limit, or null. Reads only the header section, line by line.</summary>
    /// <param name="message">The message, or its first octets when <paramref name="truncated"/>.</param>
    /// <param name="limits">The limits.</param>
    /// <param name="truncated">True when <paramref name="message"/> is only the start: a header section that does not end
    /// within it is longer than it.</param>
    public static SmtpReply? Check(ReadOnlySequence<byte> message, LimitOptions limits, bool truncated = false)
    {
        var reader = new SequenceReader<byte>(message);
        long headerBytes = 0;
        var fields = 0;
        var received = 0;
        while (reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
        {
            headerBytes += line.Length + 1;
            var length = line.Length;
            if (length > 0 && line.Slice(length - 1).FirstSpan[0] == '\r') length--;
            if (length == 0) return null; // the blank line: the body starts
            var first = line.FirstSpan[0];
            if (first is not ((byte)' ' or (byte)'\t'))
            {
                fields++;
                if (StartsWithReceived(line)) received++;
            }
            if (headerBytes > limits.MaxHeaderBytes)
                return new SmtpReply(552, "5.3.4", $"Message header exceeds the limit of {limits.MaxHeaderBytes} octets");
            if (fields > limits.MaxHeaderFields)
                return new SmtpReply(552, "5.3.4", $"Message header has more than {limits.MaxHeaderFields} fields");
            if (received > limits.MaxReceivedHeaders)
                return new SmtpReply(554, "5.4.6", $"Too many hops: more than {limits.MaxReceivedHeaders} Received fields (mail loop?)");
        }
        if (truncated && headerBytes + reader.Remaining > limits.MaxHeaderBytes)
            return new SmtpReply(552, "5.3.4", $"Message header exceeds the limit of {limits.MaxHeaderBytes} octets");
        return null;
    }

    private static bool StartsWithReceived(ReadOnlySequence<byte> line)
    {
        Span<byte> head = stackalloc byte[9];
        if (line.Length < head.Length) return false;
        line.Slice(0, head.Length).CopyTo(head);
        return System.Text.Ascii.EqualsIgnoreCase(head, "Received:"u8);
    }
}
