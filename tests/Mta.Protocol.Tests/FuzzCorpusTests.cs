// Replays the fuzz corpus and every crash the fuzzer found (fuzz/corpus/**, fuzz/crashes/**) through the same checks
// as the SharpFuzz harness (fuzz/Mta.Fuzz/Checks.cs: keep the two in sync).
using System.Buffers;
using System.Text;

namespace Mta.Protocol.Tests;

public class FuzzCorpusTests
{
    // Crash inputs not fixed yet: file name relative to fuzz/ (with '/') -> why the case is skipped.
    private static readonly Dictionary<string, string> KnownCrashes = new();

    private static readonly ParserOptions[] AllOptions =
    [
        new(Extended: false, Utf8Transaction: false),
        new(Extended: true, Utf8Transaction: false),
        new(Extended: true, Utf8Transaction: true),
    ];

    private static string FuzzRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return Path.Combine(dir.FullName, "fuzz");
        throw new InvalidOperationException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        var root = FuzzRoot();
        foreach (var kind in new[] { "corpus", "crashes" })
        foreach (var target in new[] { "command", "path", "data" })
        {
            var dir = Path.Combine(root, kind, target);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(target, $"{kind}/{target}/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Corpus_is_there()
    {
        foreach (var target in new[] { "command", "path", "data" })
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", target)));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string target, string file)
    {
        if (KnownCrashes.TryGetValue(file, out var reason)) Assert.Skip(reason);
        var input = File.ReadAllBytes(Path.Combine(FuzzRoot(), file));
        switch (target)
        {
            case "command": Command(input); break;
            case "path": PathCheck(input); break;
            default: Data(input); break;
        }
    }

    private static void Require(bool condition, string what) => Assert.True(condition, what);

    // Never throws; every result is exactly one of success or error; the line reader always makes progress.
    private static void Command(byte[] input)
    {
        foreach (var options in AllOptions) ParseOne(input, options);

        var buffer = new ReadOnlySequence<byte>(input);
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

    // Never throws; success: 0 < consumed <= length, ends at '>', an address; failure: an error text;
    // accepted without SMTPUTF8 implies accepted with it.
    private static void PathCheck(byte[] input)
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

    // Never throws; whole, two calls and one two-segment sequence agree; complete exactly at the first real
    // CRLF.CRLF (or a leading ".\r\n"); the size limit holds.
    private static void Data(byte[] bytes)
    {
        var seed = bytes.Length > 0 ? bytes[0] : 0;
        var split = bytes.Length == 0 ? 0 : (seed * 7919) % (bytes.Length + 1);
        long max = (seed & 1) == 0 ? long.MaxValue : seed * 3;
        var maxLine = 3 + seed % 100;

        var whole = Feed([bytes], max, maxLine);
        Require(Same(whole, Feed([bytes[..split], bytes[split..]], max, maxLine)), $"split at {split} in two calls changes the outcome");

        var decoder = new DataDecoder(max, maxLine);
        var output = new ArrayBufferWriter<byte>();
        var seq = TestSupport.Sequence(bytes[..split], bytes[split..]);
        var pos = decoder.Decode(seq, output);
        var oneSeq = new DataOutcome(output.WrittenSpan.ToArray(), decoder.IsComplete, seq.Slice(seq.Start, pos).Length,
            decoder.MessageSize, decoder.SizeExceeded, decoder.BareLineEndingSeen, decoder.LineTooLong);
        Require(Same(whole, oneSeq), $"two-segment sequence split at {split} changes the outcome");

        long terminator = bytes.AsSpan().StartsWith(".\r\n"u8) ? 3 : bytes.AsSpan().IndexOf("\r\n.\r\n"u8) is var i and >= 0 ? i + 5 : -1;
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

        if (whole.Complete)
        {
            var d = new DataDecoder(max, maxLine);
            var o = new ArrayBufferWriter<byte>();
            var s = new ReadOnlySequence<byte>(bytes);
            d.Decode(s, o);
            Require(s.Slice(s.Start, d.Decode(s, o)).Length == 0, "complete decoder consumed more");
        }
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
}
