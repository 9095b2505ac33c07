// Sender-side DATA encoding: dot-stuffing, a final CRLF and the end-of-data line.
using System.Buffers;

namespace Mta.Protocol;

/// <summary>Encodes a message for DATA (RFC 5321 4.5.2): doubles leading dots, ends with CRLF, appends <c>.\r\n</c>.</summary>
public static class DotStuffing
{
    /// <summary>Encodes a whole message.</summary>
    public static void Encode(ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        var encoder = new DotStuffingEncoder();
        foreach (var segment in message)
            encoder.Encode(segment.Span, output);
        encoder.Complete(output);
    }

    /// <summary>Encodes a whole message held in one span.</summary>
    public static void Encode(ReadOnlySpan<byte> message, IBufferWriter<byte> output)
    {
        var encoder = new DotStuffingEncoder();
        encoder.Encode(message, output);
        encoder.Complete(output);
    }
}

/// <summary>
/// Streaming dot-stuffing for messages read in chunks. A dot is doubled after every LF, not only after CRLF:
/// that is harmless for a strict receiver and keeps a lenient one (LF as line end) from seeing an early end.
/// </summary>
public sealed class DotStuffingEncoder
{
    private bool _atLineStart = true;
    private bool _empty = true;
    private byte _last;
    private byte _beforeLast;

    /// <summary>Encodes the next chunk of the message.</summary>
    public void Encode(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (chunk.IsEmpty) return;
        var i = 0;
        while (i < chunk.Length)
        {
            if (_atLineStart && chunk[i] == (byte)'.') output.Write("."u8);
            var lf = chunk[i..].IndexOf((byte)'\n');
            var end = lf < 0 ? chunk.Length : i + lf + 1;
            output.Write(chunk[i..end]);
            _atLineStart = lf >= 0;
            i = end;
        }
        _beforeLast = chunk.Length >= 2 ? chunk[^2] : _last;
        _last = chunk[^1];
        _empty = false;
    }

    /// <summary>Ends the message: a CRLF if it does not end with one, then <c>.\r\n</c>. The encoder is then reset.</summary>
    public void Complete(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!_empty && !(_beforeLast == (byte)'\r' && _last == (byte)'\n'))
            output.Write(_last == (byte)'\r' ? "\n"u8 : "\r\n"u8);
        output.Write(".\r\n"u8);
        _atLineStart = true;
        _empty = true;
        _last = _beforeLast = 0;
    }
}
