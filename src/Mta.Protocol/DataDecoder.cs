// Receiver-side DATA decoding: finds the one true end-of-data sequence and removes dot-stuffing, smuggling-safe.
using System.Buffers;

namespace Mta.Protocol;

/// <summary>
/// Decodes the content of one DATA transfer (RFC 5321 4.1.1.4 and 4.5.2). Only CR LF "." CR LF, whose first
/// CR LF is a real one (or the start of the data), ends the message: bare LF or CR sequences such as
/// <c>\n.\n</c> or <c>\r\n.\n</c> are data (SMTP smuggling), passed through and flagged in
/// <see cref="BareLineEndingSeen"/> so the caller can refuse the message. Works on input split at any byte.
/// In <see cref="DataDecoderMode.Chunks"/> mode (BDAT, RFC 3030) there is no dot-stuffing and no terminator: the
/// caller says where the message ends, and the same text checks apply; <see cref="DataDecoderMode.Binary"/>
/// (<c>BODY=BINARYMIME</c>) only counts octets.
/// </summary>
public sealed class DataDecoder
{
    private enum State : byte
    {
        LineStart, // after a real CRLF, or at the start of the data
        Dot,       // "." at line start, held back
        DotCr,     // "." CR at line start, both held back
        Middle,    // inside a line
        Cr,        // a CR inside a line, already written
    }

    private static ReadOnlySpan<byte> CrByte => "\r"u8;

    private readonly long _maxMessageSize;
    private readonly int _maxLineLength;
    private readonly DataDecoderMode _mode;
    private State _state;
    private long _lineLength;

    /// <summary>Creates a decoder.</summary>
    /// <param name="maxMessageSize">Octets written at most; more are counted but dropped.</param>
    /// <param name="maxLineLength">Longest line, CRLF included, before <see cref="LineTooLong"/> is set.</param>
    /// <param name="mode">DATA (dot-stuffed, ends at CRLF.CRLF), BDAT text chunks, or BDAT binary chunks.</param>
    public DataDecoder(long maxMessageSize, int maxLineLength = SmtpLimits.MaxTextLine, DataDecoderMode mode = DataDecoderMode.Data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxMessageSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 3);
        _maxMessageSize = maxMessageSize;
        _maxLineLength = maxLineLength;
        _mode = mode;
    }

    /// <summary>The end-of-data line was seen; further input is not consumed.</summary>
    public bool IsComplete { get; private set; }

    /// <summary>Octets of decoded message (after dot-unstuffing), including those dropped past the size limit.</summary>
    public long MessageSize { get; private set; }

    /// <summary>The message is larger than the limit: reply 552 5.3.4 once it is complete.</summary>
    public bool SizeExceeded { get; private set; }

    /// <summary>An LF without CR before it, or a CR without LF after it, occurred somewhere in the data.</summary>
    public bool BareLineEndingSeen { get; private set; }

    /// <summary>Some line exceeded the line length limit, CRLF included.</summary>
    public bool LineTooLong { get; private set; }

    /// <summary>A NUL octet occurred: not allowed in 7bit or 8bitmime text (RFC 5321 4.5.2, RFC 6152 2).</summary>
    public bool NulSeen { get; private set; }

    /// <summary>True when any text rule was broken (bare CR or LF, NUL, overlong line); never in binary mode.</summary>
    public bool TextRuleBroken => BareLineEndingSeen || NulSeen || LineTooLong;

    /// <summary>Makes the decoder ready for another DATA transfer.</summary>
    public void Reset()
    {
        _state = State.LineStart;
        _lineLength = 0;
        IsComplete = false;
        MessageSize = 0;
        SizeExceeded = false;
        BareLineEndingSeen = false;
        LineTooLong = false;
        NulSeen = false;
    }

    /// <summary>Chunk modes: the last chunk has been decoded. A CR left waiting for its LF is a bare CR.</summary>
    public void EndOfChunks()
    {
        if (_mode == DataDecoderMode.Chunks && _state == State.Cr) BareLineEndingSeen = true;
        IsComplete = true;
    }

    /// <summary>
    /// Decodes as much of <paramref name="input"/> as possible into <paramref name="output"/> (dot-unstuffed,
    /// CRLF kept, terminator removed) and stops right after the terminating CRLF.CRLF.
    /// </summary>
    /// <returns>The position consumed: after the terminator when <see cref="IsComplete"/>, else <c>input.End</c>.</returns>
    public SequencePosition Decode(in ReadOnlySequence<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (IsComplete) return input.Start;
        if (_mode == DataDecoderMode.Binary)
        {
            foreach (var segment in input) Emit(segment.Span, output);
            return input.End;
        }
        long consumed = 0;
        foreach (var segment in input)
        {
            var used = DecodeSpan(segment.Span, output);
            consumed += used;
            if (IsComplete) return input.GetPosition(consumed);
        }
        return input.End;
    }

    private int DecodeSpan(ReadOnlySpan<byte> span, IBufferWriter<byte> output)
    {
        var i = 0;
        var runStart = 0; // span[runStart..i] is written verbatim at the next flush
        while (i < span.Length)
        {
            switch (_state)
            {
                case State.Middle:
                {
                    var k = span[i..].IndexOfAny((byte)'\r', (byte)'\n', (byte)0);
                    if (k < 0)
                    {
                        AddToLine(span.Length - i);
                        i = span.Length;
                        break;
                    }
                    AddToLine(k + 1);
                    i += k;
                    if (span[i] == 0)
                    {
                        NulSeen = true;
                    }
                    else if (span[i] == (byte)'\r')
                    {
                        _state = State.Cr;
                    }
                    else
                    {
                        BareLineEndingSeen = true;
                        EndLine();
                    }
                    i++;
                    break;
                }
                case State.Cr:
                    if (span[i] == (byte)'\n')
                    {
                        AddToLine(1);
                        EndLine();
                        i++;
                        _state = State.LineStart;
                    }
                    else
                    {
                        BareLineEndingSeen = true;
                        _state = State.Middle;
                    }
                    break;
                case State.LineStart:
                    if (span[i] == (byte)'.' && _mode == DataDecoderMode.Data)
                    {
                        // The transparency dot does not count toward the text line limit (RFC 5321 4.5.3.1.6).
                        Emit(span[runStart..i], output);
                        i++;
                        runStart = i;
                        _state = State.Dot;
                    }
                    else
                    {
                        _state = State.Middle;
                    }
                    break;
                case State.Dot:
                    if (span[i] == (byte)'\r')
                    {
                        Emit(span[runStart..i], output);
                        AddToLine(1);
                        i++;
                        runStart = i;
                        _state = State.DotCr;
                    }
                    else
                    {
                        // A leading dot followed by anything else is stuffing: it is already dropped.
                        _state = State.Middle;
                    }
                    break;
                case State.DotCr:
                    Emit(span[runStart..i], output);
                    runStart = i;
                    if (span[i] == (byte)'\n')
                    {
                        IsComplete = true;
                        return i + 1;
                    }
                    // "." CR without LF: the dot was stuffing, and the held-back CR is a bare CR in the data.
                    Emit(CrByte, output);
                    BareLineEndingSeen = true;
                    _state = State.Middle;
                    break;
            }
        }
        Emit(span[runStart..i], output);
        return i;
    }

    private void AddToLine(long count)
    {
        _lineLength += count;
        if (_lineLength > _maxLineLength) LineTooLong = true;
    }

    private void EndLine() => _lineLength = 0;

    private void Emit(ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.IsEmpty) return;
        var room = _maxMessageSize - MessageSize;
        if (room >= data.Length) output.Write(data);
        else if (room > 0) output.Write(data[..(int)room]);
        MessageSize += data.Length;
        if (MessageSize > _maxMessageSize) SizeExceeded = true;
    }
}

/// <summary>What a <see cref="DataDecoder"/> decodes.</summary>
public enum DataDecoderMode
{
    /// <summary>DATA: dot-stuffed text ending at CRLF.CRLF.</summary>
    Data,
    /// <summary>BDAT chunks of a 7bit or 8bitmime message: taken as they are, with the text checks.</summary>
    Chunks,
    /// <summary>BDAT chunks of a <c>BODY=BINARYMIME</c> message: any octets, only the size is checked.</summary>
    Binary,
}
