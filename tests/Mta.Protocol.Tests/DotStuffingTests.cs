// Sender-side dot-stuffing, and its round trip through the receiver's DataDecoder.
using System.Buffers;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class DotStuffingTests
{
    private static string Encode(string message)
    {
        var output = new ArrayBufferWriter<byte>();
        DotStuffing.Encode(Sequence(message), output);
        return Text(output.WrittenSpan);
    }

    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("a\r\n", "a\r\n.\r\n")]
    [InlineData("a", "a\r\n.\r\n")]
    [InlineData("a\r", "a\r\n.\r\n")]
    [InlineData("a\n", "a\n\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData(".a\r\n.b\r\nc.\r\n", "..a\r\n..b\r\nc.\r\n.\r\n")]
    [InlineData("a\r\n.", "a\r\n..\r\n.\r\n")]
    [InlineData("a\n.b\r\n", "a\n..b\r\n.\r\n")]
    public void Encodes(string message, string wire) => Assert.Equal(wire, Encode(message));

    [Fact]
    public void Streaming_encoder_matches_whole_encoding_at_every_split()
    {
        var message = Bytes(".first\r\nsecond\r\n.\r\n..third\r\nend");
        var expected = Encode(Text(message));
        for (var split = 0; split <= message.Length; split++)
        {
            var encoder = new DotStuffingEncoder();
            var output = new ArrayBufferWriter<byte>();
            encoder.Encode(message.AsSpan(0, split), output);
            encoder.Encode(message.AsSpan(split), output);
            encoder.Complete(output);
            Assert.Equal(expected, Text(output.WrittenSpan));

            var multi = new ArrayBufferWriter<byte>();
            DotStuffing.Encode(Sequence(message[..split], message[split..]), multi);
            Assert.Equal(expected, Text(multi.WrittenSpan));
        }
    }

    [Fact]
    public void Round_trips_through_the_decoder_byte_for_byte()
    {
        var rng = new Random(42);
        byte[][] pieces = [Bytes("."), Bytes(".."), Bytes("\r\n"), Bytes("\r\n."), Bytes("abc"), Bytes(" "), Bytes("\r"), [0x00], [0xC3, 0xA9], [0xFF]];
        for (var n = 0; n < 300; n++)
        {
            var message = new List<byte>();
            var count = rng.Next(0, 40);
            for (var i = 0; i < count; i++) message.AddRange(pieces[rng.Next(pieces.Length)]);
            if (message.Count > 0) message.AddRange("\r\n"u8.ToArray());
            var original = message.ToArray();

            var wire = new ArrayBufferWriter<byte>();
            DotStuffing.Encode(new ReadOnlySequence<byte>(original), wire);

            var decoder = new DataDecoder(long.MaxValue);
            var decoded = new ArrayBufferWriter<byte>();
            var input = new ReadOnlySequence<byte>(wire.WrittenMemory);
            var consumed = decoder.Decode(input, decoded);
            Assert.True(decoder.IsComplete);
            Assert.Equal(input.End, consumed);
            Assert.Equal(original, decoded.WrittenSpan.ToArray());
        }
    }
}
