// Command-phase line framing over ReadOnlySequence<byte>, bounded before anything is buffered.
using System.Buffers;

namespace Mta.Protocol;

/// <summary>The outcome of <see cref="SmtpLineReader.TryReadLine"/>.</summary>
public enum LineStatus
{
    /// <summary>A whole line was found.</summary>
    Complete,
    /// <summary>No line end yet; read more.</summary>
    Incomplete,
    /// <summary>No line end within the limit; reply 500 5.5.6 and skip to the next LF.</summary>
    TooLong,
}

/// <summary>
/// Finds command lines in received bytes. The limit is applied before the caller buffers more, so a client
/// can never make the server hold more than one maximum-length line (the Kestrel way).
/// </summary>
public static class SmtpLineReader
{
    /// <summary>Finds the next line at the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Received, not yet consumed bytes.</param>
    /// <param name="maxLineLength">Longest line accepted, line ending included (usually <see cref="SmtpLimits.MaxCommandLine"/>).</param>
    /// <param name="line">On <see cref="LineStatus.Complete"/>, the bytes before the LF, without a CR just before it.</param>
    /// <param name="consumed">
    /// Complete: the position after the LF. Incomplete: <c>buffer.Start</c> (examined is <c>buffer.End</c>).
    /// TooLong: <c>buffer.Start</c>; call <see cref="TrySkipToEndOfLine"/> on the same buffer next.
    /// </param>
    /// <remarks>A bare LF also ends a command line: lenient, and harmless outside DATA.</remarks>
    public static LineStatus TryReadLine(in ReadOnlySequence<byte> buffer, int maxLineLength, out ReadOnlySequence<byte> line, out SequencePosition consumed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 2);
        line = default;
        consumed = buffer.Start;

        // Look no further than the limit: what lies beyond cannot belong to an acceptable line.
        var window = buffer.Length > maxLineLength ? buffer.Slice(0, maxLineLength) : buffer;
        SequencePosition? lf;
        if (window.IsSingleSegment)
        {
            var index = window.FirstSpan.IndexOf((byte)'\n');
            lf = index < 0 ? null : window.GetPosition(index);
        }
        else
        {
            lf = window.PositionOf((byte)'\n');
        }

        if (lf is null)
            return buffer.Length >= maxLineLength ? LineStatus.TooLong : LineStatus.Incomplete;

        line = buffer.Slice(0, lf.Value);
        if (line.Length > 0 && EndsWithCr(line)) line = line.Slice(0, line.Length - 1);
        consumed = buffer.GetPosition(1, lf.Value);
        return LineStatus.Complete;
    }

    /// <summary>
    /// Finds the next command line: at most <see cref="SmtpLimits.MaxCommandLine"/> octets, or
    /// <see cref="SmtpLimits.MaxAuthLine"/> for a line that starts with <c>AUTH</c> and a blank (any case), whose initial
    /// response may be long (RFC 4954 section 4). The 512-octet window is searched first, so an ordinary command costs
    /// no more than before and only an AUTH line is ever buffered past it.
    /// </summary>
    /// <param name="buffer">Received, not yet consumed bytes.</param>
    /// <param name="line">As <see cref="TryReadLine"/>.</param>
    /// <param name="consumed">As <see cref="TryReadLine"/>.</param>
    /// <param name="limit">The limit applied (for the 500 5.5.6 text on <see cref="LineStatus.TooLong"/>).</param>
    public static LineStatus TryReadCommandLine(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out SequencePosition consumed, out int limit)
    {
        limit = SmtpLimits.MaxCommandLine;
        var status = TryReadLine(buffer, limit, out line, out consumed);
        if (status != LineStatus.TooLong || !StartsWithAuth(buffer)) return status;
        limit = SmtpLimits.MaxAuthLine;
        return TryReadLine(buffer, limit, out line, out consumed);
    }

    // "AUTH" then SP or HTAB, case-insensitively, at the very start (the parser splits the verb on either blank).
    private static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 5) return false;
        Span<byte> head = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(head);
        return System.Text.Ascii.EqualsIgnoreCase(head[..4], "AUTH"u8) && head[4] is (byte)' ' or (byte)'\t';
    }

    /// <summary>Discards the rest of an over-long line.</summary>
    /// <param name="buffer">Received bytes.</param>
    /// <param name="consumed">After the LF when found, else <c>buffer.End</c> (discard everything and keep skipping).</param>
    /// <returns>True when the LF was found.</returns>
    public static bool TrySkipToEndOfLine(in ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            consumed = buffer.End;
            return false;
        }
        consumed = buffer.GetPosition(1, lf.Value);
        return true;
    }

    private static bool EndsWithCr(in ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment) return line.FirstSpan[^1] == (byte)'\r';
        return line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r';
    }
}
