// The properties each fuzz target checks; also compiled into tests/Mta.Protocol.Tests, whose FuzzCorpusTests
// replays fuzz/corpus/** and fuzz/crashes/** through these same checks under `dotnet test`.
using System.Buffers;
using System.Text;
using Mta.Protocol;

namespace Mta.Fuzz;

/// <summary>A violated invariant (distinct from an exception thrown by the code under test).</summary>
public sealed class InvariantException(string message) : Exception(message);

public static class Checks
{
    private static readonly ParserOptions[] AllOptions =
    [
        new(Extended: false, Utf8Transaction: false),
        new(Extended: true, Utf8Transaction: false),
        new(Extended: true, Utf8Transaction: true),
    ];

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new InvariantException(what);
    }

    /// <summary>
    /// command: the bytes as one line (with every option set), then framed by SmtpLineReader into lines, each
    /// parsed. Never throws; every result is exactly one of success or error; the reader always makes progress.
    /// </summary>
    public static void Command(ReadOnlySpan<byte> input)
    {
        foreach (var options in AllOptions) ParseOne(input, options);

        var buffer = new ReadOnlySequence<byte>(input.ToArray());
        var guard = 0;
        while (!buffer.IsEmpty)
        {
            Require(++guard <= input.Length + 1, "line reader made no progress");
            var status = SmtpLineReader.TryReadLine(buffer, SmtpLimits.MaxCommandLine, out var line, out var consumed);
            if (status == LineStatus.Incomplete) break;
            if (status == LineStatus.TooLong)
            {
                if (!SmtpLineReader.TrySkipToEndOfLine(buffer, out consumed)) break;
            }
            else
            {
                Require(line.Length < SmtpLimits.MaxCommandLine, "line longer than the limit");
                ParseOne(line.ToArray(), AllOptions[2]);
            }
            var next = buffer.Slice(consumed);
            Require(next.Length < buffer.Length, "line reader consumed nothing");
            buffer = next;
        }
    }

    private static void ParseOne(ReadOnlySpan<byte> line, in ParserOptions options)
    {
        var r = SmtpCommandParser.Parse(line, options);
        Require(r.IsSuccess == (r.Command is not null) && r.IsSuccess == (r.Error is null), "result is neither success nor error");
        _ = r.ToString();
    }

    /// <summary>
    /// path: the bytes decoded as UTF-8 (invalid sequences replaced), then both path parsers with and without
    /// SMTPUTF8. Never throws; success means 0 &lt; consumed &lt;= length, the path ends with '&gt;' there and an
    /// address is given; failure gives an error text; an ASCII-only success stays a success with SMTPUTF8.
    /// </summary>
    public static void Path(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        foreach (var reverse in new[] { false, true })
        {
            var okAscii = false;
            foreach (var utf8 in new[] { false, true })
            {
                var ok = reverse
                    ? SmtpPathParser.TryParseReversePath(text, utf8, out var address, out var consumed, out SmtpPathError kind, out var error)
                    : SmtpPathParser.TryParseForwardPath(text, utf8, out address, out consumed, out kind, out error);
                if (ok)
                {
                    Require(consumed > 0 && consumed <= text.Length, $"consumed {consumed} out of range");
                    Require(text[consumed - 1] == '>', "consumed does not end at '>'");
                    Require(address is not null, "success without an address");
                    _ = address!.ToString();
                }
                else
                {
                    Require(error is not null, $"failure ({kind}) without an error text");
                    Require(!(utf8 && okAscii), "accepted without SMTPUTF8 but refused with it");
                }
                if (!utf8) okAscii = ok;
            }
        }
        _ = SmtpPathParser.IsValidDomain(text, false);
        _ = SmtpPathParser.IsValidDomain(text, true);
        _ = SmtpPathParser.IsValidAddressLiteral(text);
    }

    private sealed record DataOutcome(byte[] Output, bool Complete, long Consumed, long Size, bool SizeExceeded, bool Bare, bool TooLong);

    /// <summary>
    /// proxy: the input as the first bytes of a connection, through ProxyHeaderParser with V1, V2 and Any. Never throws;
    /// Complete gives a header and 0 &lt; consumed &lt;= length within the version's limit, parses the same again when cut
    /// there, and every shorter prefix of the header is Incomplete; Incomplete means a whole input below the limit; Invalid
    /// gives a reason. What Any completes, the header's own version alone completes the same way.
    /// </summary>
    public static void Proxy(ReadOnlySpan<byte> input)
    {
        foreach (var versions in new[] { ProxyHeaderVersions.V1, ProxyHeaderVersions.V2, ProxyHeaderVersions.Any })
        {
            var status = ProxyHeaderParser.TryParse(input, versions, out var header, out var consumed, out var error);
            switch (status)
            {
                case ProxyHeaderStatus.Complete:
                    Require(header is not null && error is null, "complete without a header");
                    Require(consumed > 0 && consumed <= input.Length, "consumed out of range");
                    Require(consumed <= (header!.Version == 1 ? ProxyHeaderParser.MaxV1Length : ProxyHeaderParser.MaxV2Length), "header over its limit");
                    Require((header.Source is null) == (header.Destination is null), "source without destination");
                    Require(ProxyHeaderParser.TryParse(input[..consumed], versions, out var again, out var consumedAgain, out _) == ProxyHeaderStatus.Complete
                            && consumedAgain == consumed && again == header, "header does not parse the same on its own");
                    for (var n = 0; n < consumed; n++)
                        Require(ProxyHeaderParser.TryParse(input[..n], versions, out _, out _, out _) == ProxyHeaderStatus.Incomplete, "a prefix of a header is not incomplete");
                    if (versions == ProxyHeaderVersions.Any)
                    {
                        var alone = header.Version == 1 ? ProxyHeaderVersions.V1 : ProxyHeaderVersions.V2;
                        Require(ProxyHeaderParser.TryParse(input, alone, out var single, out var consumedSingle, out _) == ProxyHeaderStatus.Complete
                                && consumedSingle == consumed && single == header, "Any and the header's own version disagree");
                    }
                    break;
                case ProxyHeaderStatus.Incomplete:
                    Require(header is null && consumed == 0 && error is null, "incomplete with a result");
                    Require(input.Length < ProxyHeaderParser.MaxV2Length, "incomplete at the limit");
                    break;
                default:
                    Require(header is null && consumed == 0 && !string.IsNullOrEmpty(error), "invalid without a reason");
                    break;
            }
        }
    }

    /// <summary>
    /// data: the bytes fed to a DataDecoder whole, split in two Decode calls, and as one two-segment sequence,
    /// with the split point and a size limit taken from the first byte. Never throws; all three deliveries give
    /// the same outcome; when complete, the consumed input ends with "\r\n.\r\n" (or is exactly ".\r\n") and no
    /// earlier CRLF.CRLF exists; when not complete, everything is consumed and there is no CRLF.CRLF at all.
    /// </summary>
    public static void Data(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        var seed = bytes.Length > 0 ? bytes[0] : 0;
        var split = bytes.Length == 0 ? 0 : (seed * 7919) % (bytes.Length + 1);
        long max = (seed & 1) == 0 ? long.MaxValue : seed * 3;
        var maxLine = 3 + seed % 100;

        var whole = Feed([bytes], max, maxLine);
        var twoCalls = Feed([bytes[..split], bytes[split..]], max, maxLine);
        Require(Same(whole, twoCalls), $"split at {split} in two calls changes the outcome");

        var decoder = new DataDecoder(max, maxLine);
        var output = new ArrayBufferWriter<byte>();
        var seq = TwoSegments(bytes[..split], bytes[split..]);
        var pos = decoder.Decode(seq, output);
        var oneSeq = new DataOutcome(output.WrittenSpan.ToArray(), decoder.IsComplete, seq.Slice(seq.Start, pos).Length,
            decoder.MessageSize, decoder.SizeExceeded, decoder.BareLineEndingSeen, decoder.LineTooLong);
        Require(Same(whole, oneSeq), $"two-segment sequence split at {split} changes the outcome");

        var terminator = FindTerminator(bytes);
        if (whole.Complete)
        {
            Require(terminator == whole.Consumed, $"completed at {whole.Consumed}, terminator ends at {terminator}");
            Require(whole.Output.Length <= whole.Consumed, "more output than input");
        }
        else
        {
            Require(terminator < 0, $"not complete but a terminator ends at {terminator}");
            Require(whole.Consumed == bytes.Length, "not complete but input left over");
        }
        Require(whole.Output.Length <= max && (whole.Size > max) == whole.SizeExceeded, "size limit not kept");

        // A completed decoder consumes nothing more.
        if (whole.Complete)
        {
            var d = new DataDecoder(max, maxLine);
            var o = new ArrayBufferWriter<byte>();
            var s = new ReadOnlySequence<byte>(bytes);
            d.Decode(s, o);
            Require(s.Slice(s.Start, d.Decode(s, o)).Length == 0, "complete decoder consumed more");
        }
    }

    // The end offset of the first real end-of-data sequence, or -1.
    private static long FindTerminator(byte[] b)
    {
        if (b.AsSpan().StartsWith(".\r\n"u8)) return 3;
        var i = b.AsSpan().IndexOf("\r\n.\r\n"u8);
        return i < 0 ? -1 : i + 5;
    }

    private static DataOutcome Feed(byte[][] chunks, long max, int maxLine)
    {
        var decoder = new DataDecoder(max, maxLine);
        var output = new ArrayBufferWriter<byte>();
        long consumed = 0;
        foreach (var chunk in chunks)
        {
            if (decoder.IsComplete) break;
            var seq = new ReadOnlySequence<byte>(chunk);
            var pos = decoder.Decode(seq, output);
            consumed += seq.Slice(seq.Start, pos).Length;
        }
        return new DataOutcome(output.WrittenSpan.ToArray(), decoder.IsComplete, consumed, decoder.MessageSize, decoder.SizeExceeded, decoder.BareLineEndingSeen, decoder.LineTooLong);
    }

    private static bool Same(DataOutcome a, DataOutcome b) =>
        a.Output.AsSpan().SequenceEqual(b.Output) && a with { Output = [] } == b with { Output = [] };

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex) { Memory = memory; RunningIndex = runningIndex; }
        public void Link(Segment next) => Next = next;
    }

    private static ReadOnlySequence<byte> TwoSegments(byte[] a, byte[] b)
    {
        var first = new Segment(a, 0);
        var second = new Segment(b, a.Length);
        first.Link(second);
        return new ReadOnlySequence<byte>(first, 0, second, b.Length);
    }
}
