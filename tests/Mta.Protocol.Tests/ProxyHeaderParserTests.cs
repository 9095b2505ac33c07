// PROXY protocol header theories: v1 and v2 whole and in every prefix, trailing client bytes left alone, malformed input.
using System.Net;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class ProxyHeaderParserTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>A v2 header: signature, version 2 and the command, family/transport, length, then the body.</summary>
    internal static byte[] V2(byte command, byte family, byte[] body)
    {
        var header = new byte[16 + body.Length];
        Signature.CopyTo(header, 0);
        header[12] = (byte)(0x20 | command);
        header[13] = family;
        header[14] = (byte)(body.Length >> 8);
        header[15] = (byte)body.Length;
        body.CopyTo(header, 16);
        return header;
    }

    internal static byte[] V2Tcp4(string source, int sourcePort, string destination, int destinationPort, byte[]? tlvs = null) =>
        V2(1, 0x11, [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort, .. tlvs ?? []]);

    private static byte[] V2Tcp6(string source, int sourcePort, string destination, int destinationPort) =>
        V2(1, 0x21, [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort]);

    public static TheoryData<string, byte[], string?> ValidHeaders() => new()
    {
        { "v1 tcp4", Bytes("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n"), "192.0.2.7:56324>198.51.100.1:25" },
        { "v1 tcp6", Bytes("PROXY TCP6 2001:db8::7 2001:db8::25 65535 587\r\n"), "[2001:db8::7]:65535>[2001:db8::25]:587" },
        { "v1 unknown", Bytes("PROXY UNKNOWN\r\n"), null },
        { "v1 unknown with addresses", Bytes("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), null },
        { "v1 longest", Bytes("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535>[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" },
        { "v2 tcp4", V2Tcp4("192.0.2.7", 56324, "198.51.100.1", 25), "192.0.2.7:56324>198.51.100.1:25" },
        { "v2 tcp4 with TLVs", V2Tcp4("192.0.2.7", 1, "198.51.100.1", 465, [0x01, 0x00, 0x02, (byte)'h', (byte)'2', 0x04, 0x00, 0x00]), "192.0.2.7:1>198.51.100.1:465" },
        { "v2 tcp6", V2Tcp6("2001:db8::7", 40000, "2001:db8::25", 25), "[2001:db8::7]:40000>[2001:db8::25]:25" },
        { "v2 local", V2(0, 0x00, []), null },
        { "v2 local with addresses", V2(0, 0x11, new byte[12]), null },
        { "v2 unspec", V2(1, 0x00, []), null },
        { "v2 unix", V2(1, 0x31, new byte[216]), null },
    };

    private static string? Describe(ProxyHeader h) => h.Source is null ? null : $"{h.Source}>{h.Destination}";

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Valid_header_is_complete_and_consumes_exactly_itself(string name, byte[] header, string? expected)
    {
        // The client's bytes behind the header (here a TLS ClientHello start) are never taken.
        byte[] input = [.. header, 0x16, 0x03, 0x01, (byte)'E', (byte)'H'];
        var status = ProxyHeaderParser.TryParse(input, ProxyHeaderVersions.Any, out var parsed, out var consumed, out var error);
        Assert.True(status == ProxyHeaderStatus.Complete, $"{name}: {status} {error}");
        Assert.Equal(header.Length, consumed);
        Assert.Equal(expected, Describe(parsed!));
        Assert.Equal(name.StartsWith("v1") ? 1 : 2, parsed!.Version);
        Assert.Equal(name.Contains("local"), parsed.IsLocal);
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Every_prefix_of_a_valid_header_is_incomplete(string name, byte[] header, string? expected)
    {
        _ = expected;
        for (var n = 0; n < header.Length; n++)
        {
            var status = ProxyHeaderParser.TryParse(header.AsSpan(0, n), ProxyHeaderVersions.Any, out var parsed, out var consumed, out var error);
            Assert.True(status == ProxyHeaderStatus.Incomplete, $"{name}: prefix of {n} octets gave {status} {error}");
            Assert.Null(parsed);
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void A_version_the_listener_does_not_take_is_invalid()
    {
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeaderParser.TryParse(Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ProxyHeaderVersions.V2, out _, out _, out var e1));
        Assert.Contains("v2", e1);
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeaderParser.TryParse(V2(0, 0, []), ProxyHeaderVersions.V1, out _, out _, out var e2));
        Assert.Contains("v1", e2);
    }

    public static TheoryData<string, byte[]> Malformed() => new()
    {
        { "SMTP instead", Bytes("EHLO client.example\r\n") },
        { "lower case", Bytes("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n") },
        { "no space", Bytes("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n") },
        { "bare LF", Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n") },
        { "CR inside", Bytes("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n") },
        { "too long", Bytes("PROXY TCP6 " + new string('f', 100) + "\r\n") },
        { "no end in 107 octets", Bytes("PROXY " + new string('x', 120)) },
        { "TCP5", Bytes("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n") },
        { "missing port", Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n") },
        { "double space", Bytes("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n") },
        { "v6 address as TCP4", Bytes("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n") },
        { "v4 address as TCP6", Bytes("PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n") },
        { "short v4", Bytes("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n") },
        { "port too big", Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n") },
        { "leading zero port", Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n") },
        { "negative port", Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n") },
        { "scope id", Bytes("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n") },
        { "non-ASCII", [.. Bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), 0xC3, 0xA9, 13, 10] },
        { "v2 bad signature", [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B, 0x21, 0x11, 0, 12] },
        { "v2 version 1", [.. Signature, 0x11, 0x11, 0, 12, .. new byte[12]] },
        { "v2 command 2", [.. Signature, 0x22, 0x11, 0, 12, .. new byte[12]] },
        { "v2 family 4", [.. Signature, 0x21, 0x41, 0, 12, .. new byte[12]] },
        { "v2 transport 3", [.. Signature, 0x21, 0x13, 0, 12, .. new byte[12]] },
        { "v2 udp", V2(1, 0x12, new byte[12]) },
        { "v2 length short for tcp4", V2(1, 0x11, new byte[11]) },
        { "v2 length short for tcp6", V2(1, 0x21, new byte[35]) },
        { "v2 over the limit", [.. Signature, 0x21, 0x11, 0x10, 0x00] },
        { "v1 prefix of v2", [0x0D, 0x0A, 0x0D, 0x0A, 0x00, (byte)'P'] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_header_is_invalid_with_a_reason(string name, byte[] input)
    {
        var status = ProxyHeaderParser.TryParse(input, ProxyHeaderVersions.Any, out var parsed, out var consumed, out var error);
        Assert.True(status == ProxyHeaderStatus.Invalid, $"{name}: {status}");
        Assert.Null(parsed);
        Assert.Equal(0, consumed);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void Longest_v2_header_is_accepted_and_one_more_octet_is_not()
    {
        var body = new byte[ProxyHeaderParser.MaxV2Length - 16];
        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeaderParser.TryParse(V2(1, 0x11, body), ProxyHeaderVersions.V2, out _, out var consumed, out _));
        Assert.Equal(ProxyHeaderParser.MaxV2Length, consumed);
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeaderParser.TryParse(V2(1, 0x11, new byte[body.Length + 1]), ProxyHeaderVersions.V2, out _, out _, out _));
    }
}
