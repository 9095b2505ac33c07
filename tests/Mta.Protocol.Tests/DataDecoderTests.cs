// DATA decoding: terminator, dot-unstuffing, smuggling sequences, limits, and fragmentation at every byte.
using System.Buffers;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class DataDecoderTests
{
    internal sealed record Outcome(string Output, bool Complete, long Consumed, long Size, bool SizeExceeded, bool Bare, bool TooLong);

    // Feeds the chunks one Decode call each, as a session would after each socket read.
    internal static Outcome Feed(IEnumerable<byte[]> chunks, long max = long.MaxValue, int maxLine = SmtpLimits.MaxTextLine)
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
        return new Outcome(Text(output.WrittenSpan), decoder.IsComplete, consumed, decoder.MessageSize, decoder.SizeExceeded, decoder.BareLineEndingSeen, decoder.LineTooLong);
    }

    // Every way of delivering the input must give the same outcome.
    internal static Outcome DecodeAllWays(string input, long max = long.MaxValue, int maxLine = SmtpLimits.MaxTextLine)
    {
        var bytes = Bytes(input);
        var whole = Feed([bytes], max, maxLine);
        Assert.Equal(whole, Feed(bytes.Select(b => new[] { b }), max, maxLine));
        for (var split = 0; split <= bytes.Length; split++)
            Assert.Equal(whole, Feed([bytes[..split], bytes[split..]], max, maxLine));

        // One call over a sequence whose segments are single bytes.
        var decoder = new DataDecoder(max, maxLine);
        var output = new ArrayBufferWriter<byte>();
        var seq = Sequence(bytes.Select(b => new[] { b }).ToArray());
        var pos = decoder.Decode(seq, output);
        Assert.Equal(whole.Output, Text(output.WrittenSpan));
        Assert.Equal(whole.Consumed, seq.Slice(seq.Start, pos).Length);
        Assert.Equal(whole.Complete, decoder.IsComplete);
        return whole;
    }

    [Fact]
    public void Plain_message()
    {
        var r = DecodeAllWays("Subject: hi\r\n\r\nbody\r\n.\r\n");
        Assert.True(r.Complete);
        Assert.Equal("Subject: hi\r\n\r\nbody\r\n", r.Output);
        Assert.Equal(r.Output.Length, r.Size);
        Assert.False(r.Bare);
        Assert.False(r.TooLong);
        Assert.False(r.SizeExceeded);
    }

    [Fact]
    public void Empty_message()
    {
        var r = DecodeAllWays(".\r\n");
        Assert.True(r.Complete);
        Assert.Equal("", r.Output);
        Assert.Equal(0, r.Size);
        Assert.Equal(3, r.Consumed);
    }

    [Fact]
    public void Stops_right_after_the_terminator()
    {
        const string data = "a\r\n.\r\n";
        var r = DecodeAllWays(data + "QUIT\r\n");
        Assert.True(r.Complete);
        Assert.Equal(data.Length, r.Consumed);
        Assert.Equal("a\r\n", r.Output);
    }

    [Fact]
    public void Complete_decoder_consumes_nothing_more()
    {
        var decoder = new DataDecoder(1000);
        var output = new ArrayBufferWriter<byte>();
        decoder.Decode(Sequence(".\r\n"), output);
        var more = Sequence("x\r\n.\r\n");
        Assert.Equal(more.Start, decoder.Decode(more, output));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData("..\r\n.\r\n", ".\r\n")]
    [InlineData("..hidden\r\n.\r\n", ".hidden\r\n")]
    [InlineData("a\r\n...\r\n.\r\n", "a\r\n..\r\n")]
    [InlineData("a\r\n.b.c\r\n.\r\n", "a\r\nb.c\r\n")]
    [InlineData("a.\r\n.\r\n", "a.\r\n")]
    [InlineData("a\r\n. \r\n.\r\n", "a\r\n \r\n")]
    public void Dot_unstuffing(string input, string expected)
    {
        var r = DecodeAllWays(input);
        Assert.True(r.Complete);
        Assert.Equal(expected, r.Output);
        Assert.False(r.Bare);
    }

    [Theory]
    [InlineData("a\n.\nb\r\n.\r\n", "a\n.\nb\r\n")]
    [InlineData("a\r.\rb\r\n.\r\n", "a\r.\rb\r\n")]
    [InlineData("a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n")]
    [InlineData("a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n")]
    [InlineData("a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n")]
    [InlineData("a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n")]
    [InlineData("a\n\r\n.\r\n", "a\n\r\n")]
    public void Smuggling_sequences_are_data_and_flagged(string input, string expected)
    {
        var r = DecodeAllWays(input);
        Assert.True(r.Complete);
        Assert.Equal(expected, r.Output);
        Assert.True(r.Bare);
        Assert.Equal(input.Length, r.Consumed);
    }

    [Theory]
    [InlineData("a\n.\n")]
    [InlineData("a\r.\r")]
    [InlineData("a\n.\r\n")]
    [InlineData("a\r\n.\n")]
    [InlineData("a\r.\r\n")]
    [InlineData("\n.\n")]
    [InlineData(".\n")]
    [InlineData(".\r")]
    [InlineData("a\r\n.\r")]
    [InlineData("a\r\n.")]
    [InlineData("a\r\n")]
    public void Never_terminates_early(string input)
    {
        var r = DecodeAllWays(input);
        Assert.False(r.Complete);
        Assert.Equal(input.Length, r.Consumed);
    }

    [Fact]
    public void Bare_cr_before_real_crlf_still_allows_the_end()
    {
        var r = DecodeAllWays("a\r\r\n.\r\n");
        Assert.True(r.Complete);
        Assert.True(r.Bare);
        Assert.Equal("a\r\r\n", r.Output);
    }

    [Fact]
    public void Binary_and_nul_bytes_pass_through()
    {
        var r = DecodeAllWays("a\0b\u00ff\r\n.\r\n");
        Assert.Equal("a\0b\u00ff\r\n", r.Output);
        Assert.False(r.Bare);
    }

    [Fact]
    public void Size_limit_counts_but_does_not_write()
    {
        var body = "0123456789\r\n0123456789\r\n";
        var r = DecodeAllWays(body + ".\r\n", max: 15);
        Assert.True(r.Complete);
        Assert.True(r.SizeExceeded);
        Assert.Equal(body.Length, r.Size);
        Assert.Equal(body[..15], r.Output);

        var exact = DecodeAllWays(body + ".\r\n", max: body.Length);
        Assert.False(exact.SizeExceeded);
        Assert.Equal(body, exact.Output);
    }

    [Fact]
    public void Size_counts_unstuffed_octets()
    {
        var r = DecodeAllWays("..\r\n.\r\n", max: 3);
        Assert.False(r.SizeExceeded);
        Assert.Equal(3, r.Size);
    }

    [Fact]
    public void Line_too_long_is_flagged()
    {
        Assert.False(DecodeAllWays(new string('x', 998) + "\r\n.\r\n").TooLong);
        Assert.True(DecodeAllWays(new string('x', 999) + "\r\n.\r\n").TooLong);
        Assert.True(DecodeAllWays("a\r\n" + new string('x', 2000)).TooLong);
        Assert.False(DecodeAllWays("ab\r\ncd\r\n.\r\n", maxLine: 4).TooLong);
        Assert.True(DecodeAllWays("abc\r\n.\r\n", maxLine: 4).TooLong);
    }

    [Fact]
    public void Reset_allows_reuse()
    {
        var decoder = new DataDecoder(5);
        var output = new ArrayBufferWriter<byte>();
        decoder.Decode(Sequence("a\nbbbbbbbbbb\r\n.\r\n"), output);
        Assert.True(decoder.IsComplete && decoder.SizeExceeded && decoder.BareLineEndingSeen);
        decoder.Reset();
        Assert.False(decoder.IsComplete || decoder.SizeExceeded || decoder.BareLineEndingSeen || decoder.LineTooLong);
        Assert.Equal(0, decoder.MessageSize);
        output.Clear();
        decoder.Decode(Sequence(".\r\n"), output);
        Assert.True(decoder.IsComplete);
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void Long_random_messages_decode_identically_however_split()
    {
        var rng = new Random(1234);
        string[] pieces = ["a", "bc", ".", "..", "\r\n", "\r", "\n", " ", "xyz", "\r\n.", "\0"];
        for (var n = 0; n < 20; n++)
        {
            var sb = new System.Text.StringBuilder();
            for (var i = 0; i < 60; i++) sb.Append(pieces[rng.Next(pieces.Length)]);
            sb.Append("\r\n.\r\n");
            var r = DecodeAllWays(sb.ToString(), max: 50, maxLine: 20);
            Assert.True(r.Complete);
        }
    }
}
