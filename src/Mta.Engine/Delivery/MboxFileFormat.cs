// The copy a command or an mbox file gets: Unix line endings, the envelope fields on top, From_ line and >From quoting for mbox.
using System.Buffers;
using System.Globalization;
using System.Text;
using Mta.Abstractions;

namespace Mta.Engine.Delivery;

/// <summary>
/// Turns the stored message (CRLF lines) into the local form Postfix's local(8) writes: LF line endings, a
/// <c>Return-Path:</c> and a <c>Delivered-To:</c> field on top; for an mbox entry also the <c>From sender date</c> line
/// before them, every line matching <c>&gt;*From </c> given one more <c>&gt;</c> (mboxrd, so a reader can undo it),
/// and a blank line after the message. Streams chunk by chunk: the message is never whole in memory.
/// </summary>
internal static class MboxFileFormat
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>The mbox separator line: <c>From sender Www Mmm dd hh:mm:ss yyyy</c> (asctime, day padded with a space),
    /// <c>MAILER-DAEMON</c> for the null sender, as Postfix writes it.</summary>
    public static string FromLine(SmtpAddress reversePath, DateTimeOffset localTime)
    {
        var sender = reversePath.IsNull ? "MAILER-DAEMON" : reversePath.ToString();
        var t = localTime.DateTime;
        return string.Create(CultureInfo.InvariantCulture,
            $"From {sender} {t:ddd MMM} {t.Day,2} {t:HH:mm:ss yyyy}\n");
    }

    /// <summary>The fields local delivery puts on top of the message.</summary>
    public static byte[] EnvelopeFields(SmtpAddress reversePath, SmtpAddress recipient) =>
        Encoding.UTF8.GetBytes($"Return-Path: {reversePath.ToPathString()}\nDelivered-To: {recipient}\n");

    /// <summary>
    /// Writes the local copy of <paramref name="message"/> for <paramref name="recipient"/> through <paramref name="write"/>,
    /// in pieces of at most a few tens of KB. <paramref name="fromLine"/> non-null makes it an mbox entry (that line first,
    /// From quoting, a blank line at the end).
    /// </summary>
    public static async ValueTask WriteAsync(IQueuedMessage message, SmtpAddress recipient, string? fromLine,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> write, CancellationToken cancellationToken)
    {
        var mbox = fromLine is not null;
        if (mbox) await write(Encoding.UTF8.GetBytes(fromLine!), cancellationToken).ConfigureAwait(false);
        await write(EnvelopeFields(message.ReversePath, recipient), cancellationToken).ConfigureAwait(false);
        var input = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var output = new ArrayBufferWriter<byte>(ChunkSize + ChunkSize / 4);
        var lines = new UnixLines(quoteFrom: mbox);
        try
        {
            var content = message.Content.OpenRead();
            await using (content.ConfigureAwait(false))
            {
                int read;
                while ((read = await content.ReadAsync(input.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    output.ResetWrittenCount();
                    lines.Convert(input.AsSpan(0, read), output);
                    if (output.WrittenCount > 0) await write(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
                }
            }
            output.ResetWrittenCount();
            lines.Finish(output, blankLine: mbox);
            if (output.WrittenCount > 0) await write(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }
    }

    /// <summary>
    /// CRLF to LF (a CR not before LF is kept), with optional mboxrd quoting. State carries across chunks: a pending CR,
    /// and at a line's start how many <c>&gt;</c> and how much of <c>From </c> were seen, so a line split between two
    /// chunks is quoted exactly as a whole one.
    /// </summary>
    internal sealed class UnixLines(bool quoteFrom)
    {
        private static ReadOnlySpan<byte> From => "From "u8;

        private bool _pendingCr;
        private bool _atLineStart = true;
        private int _quotes;     // '>' seen at the start of the current line
        private int _fromMatched; // octets of "From " matched after them
        private byte _last = (byte)'\n';
        private bool _any;

        public void Convert(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
        {
            // Worst case every octet is a line start of ">From " style text: at most 2 octets out per octet in, plus the
            // held prefix.
            var span = output.GetSpan(input.Length * 2 + _quotes + 8);
            var n = 0;
            foreach (var b in input)
            {
                if (_pendingCr)
                {
                    _pendingCr = false;
                    if (b == (byte)'\n')
                    {
                        span[n++] = (byte)'\n';
                        StartLine();
                        continue;
                    }
                    span[n++] = (byte)'\r';
                }
                if (_atLineStart && quoteFrom)
                {
                    if (_fromMatched == 0 && b == (byte)'>')
                    {
                        _quotes++;
                        if (_quotes > 1000) FlushPrefix(span, ref n); // not a From line worth holding back any longer
                        continue;
                    }
                    if (b == From[_fromMatched])
                    {
                        if (++_fromMatched == From.Length)
                        {
                            span[n++] = (byte)'>';
                            FlushPrefix(span, ref n);
                        }
                        continue;
                    }
                    FlushPrefix(span, ref n);
                }
                _atLineStart = false;
                if (b == (byte)'\r')
                {
                    _pendingCr = true;
                    continue;
                }
                span[n++] = b;
                if (b == (byte)'\n') StartLine();
            }
            Advance(output, span, n);
        }

        /// <summary>Ends the copy: whatever is held back, a final newline when the message lacked one, and for mbox the
        /// blank line that separates entries.</summary>
        public void Finish(IBufferWriter<byte> output, bool blankLine)
        {
            var span = output.GetSpan(_quotes + 16);
            var n = 0;
            if (_atLineStart && quoteFrom) FlushPrefix(span, ref n);
            if (_pendingCr)
            {
                span[n++] = (byte)'\r';
                _pendingCr = false;
            }
            if (n > 0) _last = span[n - 1];
            if (_any && _last != (byte)'\n') span[n++] = (byte)'\n';
            if (blankLine) span[n++] = (byte)'\n';
            Advance(output, span, n);
        }

        private void Advance(IBufferWriter<byte> output, Span<byte> span, int n)
        {
            if (n > 0)
            {
                _any = true;
                _last = span[n - 1];
            }
            output.Advance(n);
        }

        private void StartLine()
        {
            _atLineStart = true;
            _quotes = 0;
            _fromMatched = 0;
        }

        /// <summary>Writes the held '>'s and the part of "From " matched, and leaves line-start mode.</summary>
        private void FlushPrefix(Span<byte> span, ref int n)
        {
            span.Slice(n, _quotes).Fill((byte)'>');
            n += _quotes;
            From[.._fromMatched].CopyTo(span[n..]);
            n += _fromMatched;
            _quotes = 0;
            _fromMatched = 0;
            _atLineStart = false;
        }
    }
}
