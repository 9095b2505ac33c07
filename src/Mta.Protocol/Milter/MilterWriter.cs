// Encodes milter packets (4-octet big-endian length, one code octet, data) straight into a buffer writer.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Mta.Protocol.Milter;

/// <summary>
/// Writes milter packets, commands and replies alike, into an <see cref="IBufferWriter{T}"/> (a socket's
/// <c>PipeWriter</c>): the length is computed first, then every part is encoded in place, so nothing is copied twice.
/// Strings go as UTF-8 with a terminating NUL, numbers in network order.
/// </summary>
public static class MilterWriter
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>A packet with no data: DATA, EOH, end of message, abort, quit; and the replies continue, accept, ....</summary>
    public static void Empty(IBufferWriter<byte> writer, byte code) => Start(writer, code, 0);

    /// <summary>SMFIC_OPTNEG from the MTA: the version, the changes it allows and the protocol steps it can skip.</summary>
    public static void OptionNegotiation(IBufferWriter<byte> writer, uint version, MilterActions actions, MilterProtocolFlags protocol)
    {
        Start(writer, MilterCommand.OptionNegotiation, 12);
        UInt32(writer, version);
        UInt32(writer, (uint)actions);
        UInt32(writer, (uint)protocol);
    }

    /// <summary>The milter's SMFIC_OPTNEG reply, with the macro lists it wants per stage (SMFIR_SETSYMLIST's pairs).</summary>
    public static void OptionNegotiationReply(IBufferWriter<byte> writer, uint version, MilterActions actions, MilterProtocolFlags protocol,
        IReadOnlyCollection<KeyValuePair<MilterMacroStage, string>>? symbols = null)
    {
        var length = 12;
        if (symbols is not null)
            foreach (var (_, list) in symbols) length += 4 + StringLength(list);
        Start(writer, MilterCommand.OptionNegotiation, length);
        UInt32(writer, version);
        UInt32(writer, (uint)actions);
        UInt32(writer, (uint)protocol);
        if (symbols is null) return;
        foreach (var (stage, list) in symbols)
        {
            UInt32(writer, (uint)stage);
            String(writer, list);
        }
    }

    /// <summary>SMFIC_MACRO: the macros for the command <paramref name="forCommand"/>, as name and value pairs.</summary>
    public static void Macros(IBufferWriter<byte> writer, byte forCommand, IReadOnlyList<KeyValuePair<string, string>> macros)
    {
        var length = 1;
        foreach (var (name, value) in macros) length += StringLength(name) + StringLength(value);
        Start(writer, MilterCommand.Macro, length);
        var span = writer.GetSpan(1);
        span[0] = forCommand;
        writer.Advance(1);
        foreach (var (name, value) in macros)
        {
            String(writer, name);
            String(writer, value);
        }
    }

    /// <summary>SMFIC_CONNECT: the client's name, address family, port and address (an unknown family carries the name only).</summary>
    public static void Connect(IBufferWriter<byte> writer, string hostName, byte family, ushort port, string address)
    {
        var known = family != MilterAddressFamily.Unknown;
        Start(writer, MilterCommand.Connect, StringLength(hostName) + 1 + (known ? 2 + StringLength(address) : 0));
        String(writer, hostName);
        var span = writer.GetSpan(3);
        span[0] = family;
        if (!known)
        {
            writer.Advance(1);
            return;
        }
        BinaryPrimitives.WriteUInt16BigEndian(span[1..], port);
        writer.Advance(3);
        String(writer, address);
    }

    /// <summary>A packet whose data is NUL-terminated strings: HELO, MAIL and RCPT (argument vectors), a header (name,
    /// value), an unknown command; the replies SMFIR_REPLYCODE, ADDHEADER, ADDRCPT(_PAR), DELRCPT, CHGFROM, QUARANTINE.</summary>
    public static void Strings(IBufferWriter<byte> writer, byte code, params ReadOnlySpan<string> values)
    {
        var length = 0;
        foreach (var value in values) length += StringLength(value);
        Start(writer, code, length);
        foreach (var value in values) String(writer, value);
    }

    /// <summary>SMFIR_CHGHEADER and SMFIR_INSHEADER: an index, then a header's name and value.</summary>
    public static void IndexedHeader(IBufferWriter<byte> writer, byte code, uint index, string name, string value)
    {
        Start(writer, code, 4 + StringLength(name) + StringLength(value));
        UInt32(writer, index);
        String(writer, name);
        String(writer, value);
    }

    /// <summary>SMFIC_BODY (at most <see cref="MilterLimits.BodyChunk"/> octets) or SMFIR_REPLBODY: raw octets.</summary>
    public static void Raw(IBufferWriter<byte> writer, byte code, ReadOnlySequence<byte> data)
    {
        Start(writer, code, checked((int)data.Length));
        foreach (var segment in data) writer.Write(segment.Span);
    }

    /// <inheritdoc cref="Raw(IBufferWriter{byte}, byte, ReadOnlySequence{byte})"/>
    public static void Raw(IBufferWriter<byte> writer, byte code, ReadOnlySpan<byte> data)
    {
        Start(writer, code, data.Length);
        writer.Write(data);
    }

    private static void Start(IBufferWriter<byte> writer, byte code, int dataLength)
    {
        var span = writer.GetSpan(5);
        BinaryPrimitives.WriteUInt32BigEndian(span, checked((uint)dataLength + 1));
        span[4] = code;
        writer.Advance(5);
    }

    private static int StringLength(string value) => Utf8.GetByteCount(value) + 1;

    private static void String(IBufferWriter<byte> writer, string value)
    {
        var length = Utf8.GetByteCount(value);
        var span = writer.GetSpan(length + 1);
        Utf8.GetBytes(value, span);
        // A NUL inside would end the string early on the other side: it cannot be carried, so it goes as a space.
        span[..length].Replace((byte)0, (byte)' ');
        span[length] = 0;
        writer.Advance(length + 1);
    }

    private static void UInt32(IBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }
}
