// NUL in text, and the BDAT modes of the decoder: chunks taken as they are with the text checks, binary with none.
using System.Buffers;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class DataDecoderModeTests
{
    private static (string Output, DataDecoder Decoder) DecodeChunks(DataDecoderMode mode, params string[] chunks)
    {
        var decoder = new DataDecoder(long.MaxValue, SmtpLimits.MaxTextLine, mode);
        var output = new ArrayBufferWriter<byte>();
        foreach (var chunk in chunks)
        {
            var input = new ReadOnlySequence<byte>(Bytes(chunk));
            Assert.Equal(input.End, decoder.Decode(input, output));
        }
        decoder.EndOfChunks();
        return (Text(output.WrittenSpan), decoder);
    }

    [Theory]
    [InlineData("a\0b\r\n.\r\n")]
    [InlineData("\0\r\n.\r\n")]
    [InlineData("x\r\n\0\r\n.\r\n")]
    [InlineData("x\r\n.\0\r\n.\r\n")]
    public void NUL_in_DATA_is_flagged_wherever_the_reads_split(string input)
    {
        // Split at every byte: the flag must not depend on where reads end.
        var bytes = Bytes(input);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var outcome = DataDecoderTests.Feed([bytes[..split], bytes[split..]]);
            Assert.True(outcome.Complete);
            Assert.False(outcome.Bare);
        }
        var decoder = new DataDecoder(long.MaxValue);
        decoder.Decode(new ReadOnlySequence<byte>(bytes), new ArrayBufferWriter<byte>());
        Assert.True(decoder.NulSeen);
        Assert.True(decoder.TextRuleBroken);
    }

    [Fact]
    public void Clean_DATA_has_no_NUL_flag_and_Reset_clears_it()
    {
        var decoder = new DataDecoder(long.MaxValue);
        decoder.Decode(new ReadOnlySequence<byte>(Bytes("a\0\r\n.\r\n")), new ArrayBufferWriter<byte>());
        Assert.True(decoder.NulSeen);
        decoder.Reset();
        decoder.Decode(new ReadOnlySequence<byte>(Bytes("abc\r\n.\r\n")), new ArrayBufferWriter<byte>());
        Assert.True(decoder.IsComplete);
        Assert.False(decoder.NulSeen);
    }

    [Fact]
    public void Chunks_are_taken_as_they_are_without_dot_unstuffing_or_terminator()
    {
        var (output, decoder) = DecodeChunks(DataDecoderMode.Chunks, "Subject: x\r\n\r\n..two dots\r\n.\r\n", "more\r\n");
        Assert.Equal("Subject: x\r\n\r\n..two dots\r\n.\r\nmore\r\n", output);
        Assert.True(decoder.IsComplete);
        Assert.False(decoder.TextRuleBroken);
        Assert.Equal(output.Length, decoder.MessageSize);
    }

    [Theory]
    [InlineData("a\nb\r\n")]
    [InlineData("a\rb\r\n")]
    [InlineData("ends with a bare CR\r")]
    public void Chunks_flag_bare_line_endings(string body)
    {
        Assert.True(DecodeChunks(DataDecoderMode.Chunks, body).Decoder.BareLineEndingSeen);
    }

    [Fact]
    public void A_CRLF_split_across_chunks_is_not_bare()
    {
        var (_, decoder) = DecodeChunks(DataDecoderMode.Chunks, "line\r", "\nnext\r\n");
        Assert.False(decoder.BareLineEndingSeen);
    }

    [Fact]
    public void Chunks_flag_NUL_and_long_lines()
    {
        Assert.True(DecodeChunks(DataDecoderMode.Chunks, "a\0\r\n").Decoder.NulSeen);
        Assert.True(DecodeChunks(DataDecoderMode.Chunks, new string('x', 999) + "\r\n").Decoder.LineTooLong);
    }

    [Fact]
    public void Binary_takes_any_octets_and_checks_only_the_size()
    {
        var body = "bin\0ary\rbare\nlong" + new string('y', 2000);
        var (output, decoder) = DecodeChunks(DataDecoderMode.Binary, body[..5], body[5..]);
        Assert.Equal(body, output);
        Assert.False(decoder.TextRuleBroken);

        var limited = new DataDecoder(4, SmtpLimits.MaxTextLine, DataDecoderMode.Binary);
        var sink = new ArrayBufferWriter<byte>();
        limited.Decode(new ReadOnlySequence<byte>(Bytes("123456")), sink);
        Assert.True(limited.SizeExceeded);
        Assert.Equal(4, sink.WrittenCount);
        Assert.Equal(6, limited.MessageSize);
    }
}
