// Decodes milter packets from a byte sequence: framing with a size limit, then the data of each command and reply.
using System.Buffers;
using System.Text;

namespace Mta.Protocol.Milter;

/// <summary>What <see cref="MilterReader.TryReadPacket"/> found.</summary>
public enum MilterReadStatus
{
    /// <summary>Not a whole packet yet: read more.</summary>
    Incomplete,
    /// <summary>A packet; the buffer was advanced past it.</summary>
    Complete,
    /// <summary>A length of zero or over the limit: the peer is broken, the connection must close.</summary>
    Invalid,
}

/// <summary>A packet the peer broke the protocol with (a missing field, a string without its NUL).</summary>
public sealed class MilterProtocolException(string message) : Exception(message);

/// <summary>The milter's SMFIC_OPTNEG reply (or the MTA's request, without symbol lists).</summary>
/// <param name="Version">The protocol version.</param>
/// <param name="Actions">The message changes asked for (from a milter) or allowed (from the MTA).</param>
/// <param name="Protocol">The protocol steps not wanted, not answered, and extensions.</param>
/// <param name="Symbols">Per stage, the macro names the milter wants (space separated), as SMFIR_SETSYMLIST gives them.</param>
public sealed record MilterNegotiation(uint Version, MilterActions Actions, MilterProtocolFlags Protocol,
    IReadOnlyDictionary<MilterMacroStage, string> Symbols);

/// <summary>SMFIC_CONNECT's data.</summary>
public readonly record struct MilterConnectInfo(string HostName, byte Family, ushort Port, string Address);

/// <summary>
/// Reads milter packets without copying: a packet's data is a slice of the input sequence, valid until the reader
/// advances past it. The decoders turn a packet's data into values and throw <see cref="MilterProtocolException"/> on
/// a malformed one.
/// </summary>
public static class MilterReader
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>Takes one packet off the front of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The input; on <see cref="MilterReadStatus.Complete"/> it starts after the packet.</param>
    /// <param name="code">The command or reply code.</param>
    /// <param name="data">The packet's data (possibly empty), a slice of the input.</param>
    /// <param name="maxPacket">The largest length accepted (code included).</param>
    public static MilterReadStatus TryReadPacket(ref ReadOnlySequence<byte> buffer, out byte code, out ReadOnlySequence<byte> data,
        int maxPacket = MilterLimits.MaxPacket)
    {
        code = 0;
        data = default;
        if (buffer.Length < 4) return MilterReadStatus.Incomplete;
        var reader = new SequenceReader<byte>(buffer);
        reader.TryReadBigEndian(out int length);
        // Checked before waiting for the rest: a length over the limit is refused without buffering it.
        if (length < 1 || length > maxPacket) return MilterReadStatus.Invalid;
        if (reader.Remaining < length) return MilterReadStatus.Incomplete;
        reader.TryRead(out code);
        data = buffer.Slice(5, length - 1);
        buffer = buffer.Slice(4 + length);
        return MilterReadStatus.Complete;
    }

    /// <summary>Every NUL-terminated string in <paramref name="data"/>; a last one without its NUL is taken as it is.</summary>
    public static string[] ReadStrings(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        var values = new List<string>(2);
        while (!reader.End)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> value, 0))
            {
                values.Add(Decode(reader.UnreadSequence));
                break;
            }
            values.Add(Decode(value));
        }
        return [.. values];
    }

    /// <summary>The first NUL-terminated string, and the next one if there is one (CHGFROM and ADDRCPT_PAR's ESMTP arguments).</summary>
    public static (string First, string? Second) ReadOneOrTwoStrings(ReadOnlySequence<byte> data)
    {
        var values = ReadStrings(data);
        if (values.Length == 0) throw new MilterProtocolException("packet too short for a string");
        return (values[0], values.Length > 1 && values[1].Length > 0 ? values[1] : null);
    }

    /// <summary>SMFIC_OPTNEG's data, from either side; a milter's reply may end with macro lists per stage.</summary>
    public static MilterNegotiation ReadNegotiation(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        var version = UInt32(ref reader);
        var actions = (MilterActions)UInt32(ref reader);
        var protocol = (MilterProtocolFlags)UInt32(ref reader);
        var symbols = new Dictionary<MilterMacroStage, string>();
        while (!reader.End)
        {
            var stage = UInt32(ref reader);
            var list = String(ref reader);
            // Unknown stages are ignored, as Postfix does (milter8_connect).
            if (stage <= (uint)MilterMacroStage.EndOfHeaders) symbols[(MilterMacroStage)stage] = list;
        }
        return new MilterNegotiation(version, actions, protocol, symbols);
    }

    /// <summary>SMFIC_MACRO's data: the command the macros are for, and the name and value pairs.</summary>
    public static (byte ForCommand, KeyValuePair<string, string>[] Macros) ReadMacros(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        if (!reader.TryRead(out var forCommand)) throw new MilterProtocolException("macro packet without a command code");
        var pairs = new List<KeyValuePair<string, string>>();
        while (!reader.End)
        {
            var name = String(ref reader);
            var value = String(ref reader);
            pairs.Add(new(name, value));
        }
        return (forCommand, [.. pairs]);
    }

    /// <summary>SMFIC_CONNECT's data.</summary>
    public static MilterConnectInfo ReadConnect(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        var host = String(ref reader);
        if (!reader.TryRead(out var family)) throw new MilterProtocolException("connect packet without an address family");
        if (family == MilterAddressFamily.Unknown) return new MilterConnectInfo(host, family, 0, "");
        if (!reader.TryReadBigEndian(out short port)) throw new MilterProtocolException("connect packet without a port");
        return new MilterConnectInfo(host, family, (ushort)port, String(ref reader));
    }

    /// <summary>SMFIR_CHGHEADER and SMFIR_INSHEADER's data: index, name, value.</summary>
    public static (uint Index, string Name, string Value) ReadIndexedHeader(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        var index = UInt32(ref reader);
        var name = String(ref reader);
        var value = String(ref reader);
        return (index, name, value);
    }

    private static uint UInt32(ref SequenceReader<byte> reader) =>
        reader.TryReadBigEndian(out int value) ? (uint)value : throw new MilterProtocolException("packet too short for a 32-bit number");

    private static string String(ref SequenceReader<byte> reader) =>
        reader.TryReadTo(out ReadOnlySequence<byte> value, 0) ? Decode(value) : throw new MilterProtocolException("string without its terminating NUL");

    private static string Decode(ReadOnlySequence<byte> value) => value.IsSingleSegment ? Utf8.GetString(value.FirstSpan) : Utf8.GetString(value);
}
