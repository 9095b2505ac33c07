// The milter codec: exact packet bytes as Postfix and libmilter write them, round trips, framing fed whole, per prefix and per byte.
using System.Buffers;
using Mta.Protocol.Milter;

namespace Mta.Protocol.Tests.Milter;

public sealed class MilterCodecTests
{
    private static byte[] Write(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static (byte Code, ReadOnlySequence<byte> Data) ReadOne(byte[] packet)
    {
        var buffer = new ReadOnlySequence<byte>(packet);
        Assert.Equal(MilterReadStatus.Complete, MilterReader.TryReadPacket(ref buffer, out var code, out var data));
        Assert.True(buffer.IsEmpty, "bytes left after the packet");
        return (code, data);
    }

    [Fact]
    public void Option_negotiation_is_the_13_octets_Postfix_sends_for_version_6()
    {
        var packet = Write(w => MilterWriter.OptionNegotiation(w, 6, MilterActions.All, MilterProtocolFlags.Version6));
        Assert.Equal(Convert.FromHexString("0000000D" + "4F" + "00000006" + "000001FF" + "001FFFFF"), packet);
    }

    [Fact]
    public void Negotiation_reply_with_symbol_lists_round_trips()
    {
        var packet = Write(w => MilterWriter.OptionNegotiationReply(w, 6, MilterActions.AddHeaders | MilterActions.Quarantine,
            MilterProtocolFlags.NoHelo | MilterProtocolFlags.NoReplyRcpt,
            [new(MilterMacroStage.Connect, "{client_addr} j"), new(MilterMacroStage.EndOfMessage, "i {auth_authen}")]));
        var (code, data) = ReadOne(packet);
        Assert.Equal(MilterCommand.OptionNegotiation, code);
        var n = MilterReader.ReadNegotiation(data);
        Assert.Equal(6u, n.Version);
        Assert.Equal(MilterActions.AddHeaders | MilterActions.Quarantine, n.Actions);
        Assert.Equal(MilterProtocolFlags.NoHelo | MilterProtocolFlags.NoReplyRcpt, n.Protocol);
        Assert.Equal("{client_addr} j", n.Symbols[MilterMacroStage.Connect]);
        Assert.Equal("i {auth_authen}", n.Symbols[MilterMacroStage.EndOfMessage]);
    }

    [Fact]
    public void Macros_name_their_command_and_pair_names_with_values()
    {
        var packet = Write(w => MilterWriter.Macros(w, MilterCommand.Mail, [new("i", "01ABC"), new("{mail_addr}", "a@b.test")]));
        Assert.Equal([0, 0, 0, 31, (byte)'D', (byte)'M', .. "i\u000001ABC\u0000{mail_addr}\u0000a@b.test\u0000"u8], packet);
        var (code, data) = ReadOne(packet);
        Assert.Equal(MilterCommand.Macro, code);
        var (forCommand, macros) = MilterReader.ReadMacros(data);
        Assert.Equal(MilterCommand.Mail, forCommand);
        Assert.Equal([new("i", "01ABC"), new("{mail_addr}", "a@b.test")], macros);
    }

    [Fact]
    public void Connect_carries_name_family_port_in_network_order_and_address()
    {
        var packet = Write(w => MilterWriter.Connect(w, "[192.0.2.1]", MilterAddressFamily.Inet, 0x1234, "192.0.2.1"));
        Assert.Equal(Convert.FromHexString("0000001A" + "43") , packet[..5]);
        Assert.Equal([(byte)'4', 0x12, 0x34], packet[(5 + 12)..(5 + 15)]);
        var c = MilterReader.ReadConnect(ReadOne(packet).Data);
        Assert.Equal(new MilterConnectInfo("[192.0.2.1]", MilterAddressFamily.Inet, 0x1234, "192.0.2.1"), c);

        var v6 = MilterReader.ReadConnect(ReadOne(Write(w => MilterWriter.Connect(w, "host.test", MilterAddressFamily.Inet6, 25, "2001:db8::1"))).Data);
        Assert.Equal(new MilterConnectInfo("host.test", MilterAddressFamily.Inet6, 25, "2001:db8::1"), v6);

        // An unknown family carries the name and family only (milter8.c).
        var unknown = Write(w => MilterWriter.Connect(w, "localhost", MilterAddressFamily.Unknown, 0, ""));
        Assert.Equal(5 + 10 + 1, unknown.Length);
        Assert.Equal(MilterAddressFamily.Unknown, MilterReader.ReadConnect(ReadOne(unknown).Data).Family);
    }

    [Theory]
    [InlineData(MilterCommand.Mail, new[] { "<a@b.test>", "SIZE=100", "BODY=8BITMIME" })]
    [InlineData(MilterCommand.Rcpt, new[] { "<bob@example.test>" })]
    [InlineData(MilterCommand.Header, new[] { "Subject", "a folded\n\tvalue" })]
    [InlineData(MilterReplyCode.ReplyCode, new[] { "550-5.7.1 first\r\n550 5.7.1 second" })]
    [InlineData(MilterCommand.Helo, new[] { "client.tëst" })]
    public void String_packets_round_trip(byte code, string[] values)
    {
        var (read, data) = ReadOne(Write(w => MilterWriter.Strings(w, code, values)));
        Assert.Equal(code, read);
        Assert.Equal(values, MilterReader.ReadStrings(data));
    }

    [Fact]
    public void A_NUL_inside_a_string_is_sent_as_a_space_so_it_cannot_end_the_string()
    {
        var (_, data) = ReadOne(Write(w => MilterWriter.Strings(w, MilterCommand.Helo, "a\0b")));
        Assert.Equal(["a b"], MilterReader.ReadStrings(data));
    }

    [Fact]
    public void A_last_string_without_its_NUL_is_taken_as_it_is_and_a_missing_one_in_a_field_is_a_protocol_error()
    {
        Assert.Equal(["550 5.7.1 no"], MilterReader.ReadStrings(new ReadOnlySequence<byte>("550 5.7.1 no"u8.ToArray())));
        Assert.Throws<MilterProtocolException>(() => MilterReader.ReadIndexedHeader(new ReadOnlySequence<byte>([0, 0, 0, 1, (byte)'X'])));
        Assert.Throws<MilterProtocolException>(() => MilterReader.ReadNegotiation(new ReadOnlySequence<byte>([0, 0, 0, 6, 0, 0])));
    }

    [Fact]
    public void Indexed_header_changes_round_trip()
    {
        var (code, data) = ReadOne(Write(w => MilterWriter.IndexedHeader(w, MilterReplyCode.ChangeHeader, 2, "Subject", "")));
        Assert.Equal(MilterReplyCode.ChangeHeader, code);
        Assert.Equal((2u, "Subject", ""), MilterReader.ReadIndexedHeader(data));
    }

    [Fact]
    public void Body_chunks_are_raw_octets_up_to_64_KiB()
    {
        var body = new byte[MilterLimits.BodyChunk];
        Random.Shared.NextBytes(body);
        var packet = Write(w => MilterWriter.Raw(w, MilterCommand.Body, body));
        Assert.Equal(5 + MilterLimits.BodyChunk, packet.Length);
        var (code, data) = ReadOne(packet);
        Assert.Equal(MilterCommand.Body, code);
        Assert.Equal(body, data.ToArray());
    }

    [Fact]
    public void Empty_packets_are_a_length_of_one_and_the_code()
    {
        Assert.Equal(Convert.FromHexString("0000000145"), Write(w => MilterWriter.Empty(w, MilterCommand.EndOfMessage)));
        Assert.Equal(Convert.FromHexString("0000000163"), Write(w => MilterWriter.Empty(w, MilterReplyCode.Continue)));
    }

    [Fact]
    public void Framing_waits_for_every_prefix_and_reads_packets_split_at_every_byte()
    {
        var stream = Write(w =>
        {
            MilterWriter.Empty(w, MilterReplyCode.Progress);
            MilterWriter.Strings(w, MilterReplyCode.AddHeader, "X-Test", "value");
            MilterWriter.Empty(w, MilterReplyCode.Continue);
        });
        for (var cut = 0; cut < 5; cut++)
        {
            var prefix = new ReadOnlySequence<byte>(stream, 0, cut);
            Assert.Equal(MilterReadStatus.Incomplete, MilterReader.TryReadPacket(ref prefix, out _, out _));
        }
        // One segment per octet: the reader never assumes a contiguous packet.
        var perByte = TestSupport.Sequence(stream.Select(b => new[] { b }).ToArray());
        var codes = new List<byte>();
        while (MilterReader.TryReadPacket(ref perByte, out var code, out var data) == MilterReadStatus.Complete)
        {
            codes.Add(code);
            if (code == MilterReplyCode.AddHeader) Assert.Equal(["X-Test", "value"], MilterReader.ReadStrings(data));
        }
        Assert.Equal([MilterReplyCode.Progress, MilterReplyCode.AddHeader, MilterReplyCode.Continue], codes);
        Assert.True(perByte.IsEmpty);
    }

    [Theory]
    [InlineData("00000000")]
    [InlineData("FFFFFFFF")]
    [InlineData("00100001")]
    public void A_zero_or_oversized_length_is_invalid_before_any_data_arrives(string header)
    {
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString(header));
        Assert.Equal(MilterReadStatus.Invalid, MilterReader.TryReadPacket(ref buffer, out _, out _));
    }

    [Fact]
    public void The_limit_can_be_lowered_by_the_caller()
    {
        var packet = new ReadOnlySequence<byte>(Write(w => MilterWriter.Strings(w, MilterCommand.Helo, new string('a', 100))));
        Assert.Equal(MilterReadStatus.Invalid, MilterReader.TryReadPacket(ref packet, out _, out _, maxPacket: 50));
    }
}
