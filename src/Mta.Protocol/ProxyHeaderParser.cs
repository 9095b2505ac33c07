// Parses the HAProxy PROXY protocol header (v1 text, v2 binary) that a load balancer sends before the client's bytes.
using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Mta.Protocol;

/// <summary>Which PROXY protocol versions a listener accepts; with both, the first byte tells them apart.</summary>
[Flags]
public enum ProxyHeaderVersions
{
    /// <summary>The text header <c>PROXY TCP4 ...\r\n</c>.</summary>
    V1 = 1,
    /// <summary>The binary header starting with the 12-octet signature.</summary>
    V2 = 2,
    /// <summary>Either.</summary>
    Any = V1 | V2,
}

/// <summary>Whether the bytes so far hold a whole PROXY header.</summary>
public enum ProxyHeaderStatus
{
    /// <summary>A valid header ends at <c>consumed</c>; what follows belongs to the client.</summary>
    Complete,
    /// <summary>Every byte so far belongs to a header that is not finished: read more (all of them may be consumed).</summary>
    Incomplete,
    /// <summary>Not a valid header; the error says why. The connection must be closed.</summary>
    Invalid,
}

/// <summary>A parsed PROXY header.</summary>
/// <param name="Version">1 or 2.</param>
/// <param name="IsLocal">v2 LOCAL command: the proxy's own connection (a health check); use the socket's endpoints.</param>
/// <param name="Source">The original client, or null when the header gives none (LOCAL, v1 <c>UNKNOWN</c>, v2
/// <c>UNSPEC</c> or UNIX): the socket's endpoints are used then.</param>
/// <param name="Destination">The address the client connected to, null when <paramref name="Source"/> is.</param>
public sealed record ProxyHeader(int Version, bool IsLocal, IPEndPoint? Source, IPEndPoint? Destination);

/// <summary>
/// The PROXY protocol header of HAProxy's specification (proxy-protocol.txt, versions 1 and 2): pure, bytes in, a
/// header and the number of octets it took out. Limits hold before anything is buffered: a v1 line is at most
/// <see cref="MaxV1Length"/> octets, a v2 header at most <see cref="MaxV2Length"/>.
/// </summary>
public static class ProxyHeaderParser
{
    /// <summary>The longest v1 header, CRLF included (the specification's figure: <c>PROXY TCP6</c> with the longest
    /// addresses and ports).</summary>
    public const int MaxV1Length = 107;

    /// <summary>The fixed part of a v2 header: signature, version and command, family, length.</summary>
    public const int V2FixedLength = 16;

    /// <summary>The longest v2 header accepted. The specification allows 65551 octets; addresses take at most 216 and
    /// the TLVs load balancers add (TLS facts, unique id, cloud endpoint ids) a few hundred, so 4 KiB bounds the
    /// buffer without refusing a real proxy.</summary>
    public const int MaxV2Length = 4096;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>Looks for a PROXY header at the start of <paramref name="input"/>.</summary>
    /// <param name="input">The first bytes of the connection.</param>
    /// <param name="accepted">The versions the listener takes; another version is <see cref="ProxyHeaderStatus.Invalid"/>.</param>
    /// <param name="header">The header when complete.</param>
    /// <param name="consumed">The header's length in octets when complete; 0 otherwise.</param>
    /// <param name="error">Why the input is not a header, when invalid.</param>
    public static ProxyHeaderStatus TryParse(ReadOnlySpan<byte> input, ProxyHeaderVersions accepted, out ProxyHeader? header,
        out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        if (input.IsEmpty) return ProxyHeaderStatus.Incomplete;
        var v1 = (accepted & ProxyHeaderVersions.V1) != 0 && input[0] == (byte)'P';
        var v2 = (accepted & ProxyHeaderVersions.V2) != 0 && input[0] == V2Signature[0];
        if (v1) return ParseV1(input, out header, out consumed, out error);
        if (v2) return ParseV2(input, out header, out consumed, out error);
        error = accepted switch
        {
            ProxyHeaderVersions.V1 => "not a PROXY v1 header (expected \"PROXY \")",
            ProxyHeaderVersions.V2 => "not a PROXY v2 header (bad signature)",
            _ => "not a PROXY header",
        };
        return ProxyHeaderStatus.Invalid;
    }

    // "PROXY" SP ( "TCP4" / "TCP6" ) SP src SP dst SP sport SP dport CRLF, or "PROXY UNKNOWN" [anything] CRLF.
    private static ProxyHeaderStatus ParseV1(ReadOnlySpan<byte> input, out ProxyHeader? header, out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        var prefix = Math.Min(input.Length, V1Prefix.Length);
        if (!input[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            error = "not a PROXY v1 header (expected \"PROXY \")";
            return ProxyHeaderStatus.Invalid;
        }
        var window = input[..Math.Min(input.Length, MaxV1Length)];
        var lf = window.IndexOf((byte)'\n');
        if (lf < 0)
        {
            if (input.Length < MaxV1Length && window.IndexOf((byte)'\r') is var cr && (cr < 0 || cr == window.Length - 1))
                return ProxyHeaderStatus.Incomplete;
            error = input.Length >= MaxV1Length
                ? $"PROXY v1 header longer than {MaxV1Length} octets"
                : "PROXY v1 header has a CR not followed by LF";
            return ProxyHeaderStatus.Invalid;
        }
        if (lf == 0 || window[lf - 1] != (byte)'\r')
        {
            error = "PROXY v1 header must end with CRLF";
            return ProxyHeaderStatus.Invalid;
        }
        var line = window[..(lf - 1)];
        if (line.IndexOf((byte)'\r') >= 0 || line.IndexOf((byte)0) >= 0 || !Ascii.IsValid(line))
        {
            error = "PROXY v1 header holds a control or non-ASCII character";
            return ProxyHeaderStatus.Invalid;
        }
        var text = Encoding.ASCII.GetString(line[V1Prefix.Length..]);
        consumed = lf + 1;
        // The specification: after UNKNOWN the receiver ignores the rest of the line and uses the real endpoints.
        if (text == "UNKNOWN" || text.StartsWith("UNKNOWN ", StringComparison.Ordinal))
        {
            header = new ProxyHeader(1, false, null, null);
            return ProxyHeaderStatus.Complete;
        }
        var parts = text.Split(' ');
        if (parts.Length != 5 || parts[0] is not ("TCP4" or "TCP6"))
        {
            consumed = 0;
            error = "PROXY v1 header: expected \"PROXY TCP4|TCP6 source destination sport dport\" or \"PROXY UNKNOWN\"";
            return ProxyHeaderStatus.Invalid;
        }
        var family = parts[0] == "TCP4" ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (!TryParseV1Address(parts[1], family, out var source) || !TryParseV1Address(parts[2], family, out var destination))
        {
            consumed = 0;
            error = $"PROXY v1 header: bad {parts[0]} address";
            return ProxyHeaderStatus.Invalid;
        }
        if (!TryParseV1Port(parts[3], out var sourcePort) || !TryParseV1Port(parts[4], out var destinationPort))
        {
            consumed = 0;
            error = "PROXY v1 header: bad port (0-65535, no leading zeros)";
            return ProxyHeaderStatus.Invalid;
        }
        header = new ProxyHeader(1, false, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyHeaderStatus.Complete;
    }

    private static bool TryParseV1Address(string s, System.Net.Sockets.AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        // IPAddress.TryParse also takes forms the specification does not ("1", "0x7f.1", "::1%eth0").
        if (s.Length == 0 || s.Contains('%')) return false;
        if (family == System.Net.Sockets.AddressFamily.InterNetwork && !s.All(c => char.IsAsciiDigit(c) || c == '.')) return false;
        if (family == System.Net.Sockets.AddressFamily.InterNetwork && s.Split('.').Length != 4) return false;
        if (family == System.Net.Sockets.AddressFamily.InterNetworkV6 && !s.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.')) return false;
        if (!IPAddress.TryParse(s, out var parsed) || parsed.AddressFamily != family) return false;
        address = parsed;
        return true;
    }

    private static bool TryParseV1Port(string s, out int port)
    {
        port = 0;
        if (s.Length is 0 or > 5 || (s.Length > 1 && s[0] == '0') || !s.All(char.IsAsciiDigit)) return false;
        port = int.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        return port <= 65535;
    }

    private static ProxyHeaderStatus ParseV2(ReadOnlySpan<byte> input, out ProxyHeader? header, out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        var prefix = Math.Min(input.Length, V2Signature.Length);
        if (!input[..prefix].SequenceEqual(V2Signature[..prefix]))
        {
            error = "not a PROXY v2 header (bad signature)";
            return ProxyHeaderStatus.Invalid;
        }
        if (input.Length < 13) return ProxyHeaderStatus.Incomplete;
        var versionCommand = input[12];
        if (versionCommand >> 4 != 2)
        {
            error = $"PROXY v2 header: version {versionCommand >> 4} is not 2";
            return ProxyHeaderStatus.Invalid;
        }
        var command = versionCommand & 0x0F;
        if (command > 1)
        {
            error = $"PROXY v2 header: command {command} is neither LOCAL (0) nor PROXY (1)";
            return ProxyHeaderStatus.Invalid;
        }
        if (input.Length < 14) return ProxyHeaderStatus.Incomplete;
        var family = input[13] >> 4;
        var transport = input[13] & 0x0F;
        if (family > 3 || transport > 2)
        {
            error = $"PROXY v2 header: unknown address family or transport 0x{input[13]:X2}";
            return ProxyHeaderStatus.Invalid;
        }
        if (input.Length < V2FixedLength) return ProxyHeaderStatus.Incomplete;
        var length = BinaryPrimitives.ReadUInt16BigEndian(input[14..16]);
        if (V2FixedLength + length > MaxV2Length)
        {
            error = $"PROXY v2 header longer than {MaxV2Length} octets";
            return ProxyHeaderStatus.Invalid;
        }
        // Addresses: INET 4+4+2+2, INET6 16+16+2+2, UNIX 108+108; the TLVs after them are skipped.
        var addressLength = family switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        if (command == 1 && length < addressLength)
        {
            error = $"PROXY v2 header: length {length} is too short for its addresses ({addressLength})";
            return ProxyHeaderStatus.Invalid;
        }
        if (input.Length < V2FixedLength + length) return ProxyHeaderStatus.Incomplete;
        consumed = V2FixedLength + length;
        var body = input[V2FixedLength..consumed];
        if (command == 0)
        {
            header = new ProxyHeader(2, true, null, null);
            return ProxyHeaderStatus.Complete;
        }
        if (family is 1 or 2 && transport == 2)
        {
            consumed = 0;
            error = "PROXY v2 header: a datagram (UDP) connection cannot carry SMTP";
            return ProxyHeaderStatus.Invalid;
        }
        if (family == 1)
        {
            header = new ProxyHeader(2, false,
                new IPEndPoint(new IPAddress(body[0..4]), BinaryPrimitives.ReadUInt16BigEndian(body[8..10])),
                new IPEndPoint(new IPAddress(body[4..8]), BinaryPrimitives.ReadUInt16BigEndian(body[10..12])));
        }
        else if (family == 2)
        {
            header = new ProxyHeader(2, false,
                new IPEndPoint(new IPAddress(body[0..16]), BinaryPrimitives.ReadUInt16BigEndian(body[32..34])),
                new IPEndPoint(new IPAddress(body[16..32]), BinaryPrimitives.ReadUInt16BigEndian(body[34..36])));
        }
        else
        {
            // UNSPEC or a UNIX socket: no IP to give, so the receiver keeps the real endpoints (the specification's rule).
            header = new ProxyHeader(2, false, null, null);
        }
        return ProxyHeaderStatus.Complete;
    }
}
