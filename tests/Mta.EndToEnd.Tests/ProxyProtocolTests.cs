// The HAProxy PROXY protocol over real sockets: v1 and v2 headers name the client, untrusted or bad connections are closed.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ProxyProtocolTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    /// <summary>Listener 0 takes PROXY from loopback (the test); listener 1 only from 192.0.2.0/24, so the test is no proxy there.</summary>
    private static Task<MtaTestServer> StartAsync(ProxyProtocolMode mode = ProxyProtocolMode.Any, Action<MtaOptions>? configure = null,
        Action<IHookRegistrar>? hooks = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].ProxyProtocol = mode;
            o.Listeners[0].ProxyNetworks = ["127.0.0.0/8"];
            o.Listeners[0].ProxyTimeout = TimeSpan.FromSeconds(1);
            o.Listeners.Add(new ListenerOptions
            {
                Name = "elsewhere", Address = "127.0.0.1", Port = 0, Tls = ListenerTlsMode.None,
                ProxyProtocol = ProxyProtocolMode.Any, ProxyNetworks = ["192.0.2.0/24"],
            });
            o.Relay.TrustedNetworks = ["198.51.100.0/24"];
            configure?.Invoke(o);
        }, hooks);

    private static byte[] V2(byte command, byte family, byte[] body) =>
        [.. Signature, (byte)(0x20 | command), family, (byte)(body.Length >> 8), (byte)body.Length, .. body];

    private static byte[] V2Tcp4(string source, int sourcePort, string destination, int destinationPort) =>
        V2(1, 0x11, [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort,
            // A TLV the server must skip (PP2_TYPE_AUTHORITY "mx.test").
            0x02, 0x00, 0x07, .. "mx.test"u8]);

    private static byte[] V2Tcp6(string source, int sourcePort, string destination, int destinationPort) =>
        V2(1, 0x21, [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort]);

    /// <summary>Connects, sends the header (in two pieces, as a slow proxy might), and returns the client before the greeting.</summary>
    private static async Task<RawSmtpClient> ConnectWithHeaderAsync(IPEndPoint endPoint, byte[] header)
    {
        var c = await RawSmtpClient.ConnectAsync(endPoint, readGreeting: false);
        await c.SendAsync(header[..(header.Length / 2)]);
        await Task.Delay(20, Ct);
        await c.SendAsync(header[(header.Length / 2)..]);
        return c;
    }

    public static TheoryData<string, byte[], string> Headers() => new()
    {
        { "v1 tcp4", Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.7 203.0.113.25 51000 25\r\n"), "198.51.100.7:51000" },
        { "v1 tcp6", Encoding.ASCII.GetBytes("PROXY TCP6 2001:db8::7 2001:db8::25 51000 25\r\n"), "[2001:db8::7]:51000" },
        { "v1 tcp6 ipv4-mapped", Encoding.ASCII.GetBytes("PROXY TCP6 ::ffff:198.51.100.8 ::ffff:203.0.113.25 51000 25\r\n"), "198.51.100.8:51000" },
        { "v2 tcp4", V2Tcp4("198.51.100.7", 51000, "203.0.113.25", 25), "198.51.100.7:51000" },
        { "v2 tcp6", V2Tcp6("2001:db8::7", 51000, "2001:db8::25", 25), "[2001:db8::7]:51000" },
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public async Task The_header_source_is_the_client_the_session_sees(string name, byte[] header, string expected)
    {
        _ = name;
        var connects = new ConcurrentQueue<(IPEndPoint Remote, IPEndPoint Local, bool Trusted)>();
        await using var server = await StartAsync(hooks: r =>
            r.Register<ConnectContext>("record", (ctx, ct) =>
            {
                connects.Enqueue((ctx.Session.RemoteEndPoint, ctx.Session.LocalEndPoint, ctx.Session.IsTrustedClient));
                return R(HookResult.Continue);
            }));
        await using var c = await ConnectWithHeaderAsync(server.EndPoint, header);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.example"), 250);
        var client = IPEndPoint.Parse(expected);
        Assert.Contains($"[{client.Address}]", ehlo.Lines[0]);
        var seen = Assert.Single(connects);
        Assert.Equal(client, seen.Remote);
        Assert.Equal(25, seen.Local.Port);
        // Relaying is decided on the header's client: 198.51.100.0/24 is trusted, 2001:db8::7 is not.
        Assert.Equal(client.Address.ToString().StartsWith("198.51.100.", StringComparison.Ordinal), seen.Trusted);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@client.example>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), seen.Trusted ? 250 : 554);
    }

    [Fact]
    public async Task The_Received_field_names_the_header_client()
    {
        await using var server = await StartAsync(ProxyProtocolMode.V1);
        await using var c = await ConnectWithHeaderAsync(server.EndPoint, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.99 203.0.113.25 51000 25\r\n"));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        await SmtpAssert.EhloAsync(c, "helo.client.example");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@client.example", ["bob@example.test"], "Subject: x\r\n\r\nhi\r\n"), 250);
        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Contains("\r\nReceived: from helo.client.example ([203.0.113.99])\r\n", SmtpAssert.ReadText(file));
    }

    [Theory]
    [InlineData("v1 unknown")]
    [InlineData("v2 local")]
    public async Task LOCAL_and_UNKNOWN_keep_the_proxy_connection_as_the_client(string kind)
    {
        await using var server = await StartAsync();
        var header = kind == "v2 local" ? V2(0, 0x00, []) : Encoding.ASCII.GetBytes("PROXY UNKNOWN\r\n");
        await using var c = await ConnectWithHeaderAsync(server.EndPoint, header);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO health.check"), 250);
        Assert.Contains("[127.0.0.1]", ehlo.Lines[0]);
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
    }

    [Fact]
    public async Task A_connection_from_outside_the_trusted_proxies_is_closed_and_the_server_goes_on()
    {
        await using var server = await StartAsync();
        // Nothing is ever said to an untrusted peer: the connection just ends, header or not.
        await using (var c = await RawSmtpClient.ConnectAsync(server.EndPoints[1], readGreeting: false))
        {
            Assert.Null(await c.ReadLineAsync());
        }
        await using (var c = await RawSmtpClient.ConnectAsync(server.EndPoints[1], readGreeting: false))
        {
            // The server may have closed before the write arrives; either way nothing comes back.
            try { await c.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.7 203.0.113.25 51000 25\r\n")); }
            catch (IOException) { }
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using var ok = await ConnectWithHeaderAsync(server.EndPoint, V2Tcp4("198.51.100.7", 1, "203.0.113.25", 25));
        SmtpAssert.Reply(await ok.ReadReplyAsync(), 220);
    }

    public static TheoryData<string, byte[]> BadStarts() => new()
    {
        { "plain SMTP client", Encoding.ASCII.GetBytes("EHLO client.example\r\n") },
        { "garbage", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00] },
        { "v1 bad address", Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.777 203.0.113.25 51000 25\r\n") },
        { "v1 without CRLF in 107 octets", Encoding.ASCII.GetBytes("PROXY TCP4 " + new string('1', 120)) },
        { "v2 udp", V2(1, 0x12, new byte[12]) },
        { "v2 version 3", [.. Signature, 0x31, 0x11, 0x00, 0x0c, .. new byte[12]] },
    };

    [Theory]
    [MemberData(nameof(BadStarts))]
    public async Task A_missing_or_bad_header_from_a_trusted_proxy_is_refused_and_the_server_goes_on(string name, byte[] start)
    {
        _ = name;
        await using var server = await StartAsync();
        await using (var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
        {
            await c.SendAsync(start);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using var ok = await ConnectWithHeaderAsync(server.EndPoint, Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.7 203.0.113.25 51000 25\r\n"));
        SmtpAssert.Reply(await ok.ReadReplyAsync(), 220);
    }

    [Fact]
    public async Task A_proxy_that_sends_nothing_is_closed_after_the_header_timeout()
    {
        await using var server = await StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        var started = DateTime.UtcNow;
        Assert.True(await c.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task Only_the_configured_version_is_taken()
    {
        await using var server = await StartAsync(ProxyProtocolMode.V2);
        await using (var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
        {
            await c.SendAsync("PROXY TCP4 198.51.100.7 203.0.113.25 51000 25\r\n");
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using var ok = await ConnectWithHeaderAsync(server.EndPoint, V2Tcp4("198.51.100.7", 1, "203.0.113.25", 25));
        SmtpAssert.Reply(await ok.ReadReplyAsync(), 220);
    }

    [Fact]
    public async Task Bytes_behind_the_header_stay_for_the_session_so_an_early_talker_is_still_caught()
    {
        await using var server = await StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        await c.SendAsync([.. Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.7 203.0.113.25 51000 25\r\n"), .. "EHLO early.example\r\n"u8]);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.5.0");
    }

    [Fact]
    public async Task The_per_IP_connection_limit_counts_the_header_client_not_the_proxy()
    {
        await using var server = await StartAsync(configure: o => o.Limits.MaxConnectionsPerIp = 1);
        await using var first = await ConnectWithHeaderAsync(server.EndPoint, V2Tcp4("198.51.100.7", 1, "203.0.113.25", 25));
        SmtpAssert.Reply(await first.ReadReplyAsync(), 220);
        // Another client behind the same proxy is welcome...
        await using var second = await ConnectWithHeaderAsync(server.EndPoint, V2Tcp4("198.51.100.8", 1, "203.0.113.25", 25));
        SmtpAssert.Reply(await second.ReadReplyAsync(), 220);
        // ...a second connection of the same client is not.
        await using var third = await ConnectWithHeaderAsync(server.EndPoint, V2Tcp4("198.51.100.7", 2, "203.0.113.25", 25));
        SmtpAssert.Reply(await third.ReadReplyAsync(), 421, "4.7.0", "from your address");
    }

    [Fact]
    public async Task On_an_implicit_TLS_listener_the_header_comes_before_the_handshake()
    {
        await using var server = await StartAsync(ProxyProtocolMode.V2, o => o.Listeners[0].Tls = ListenerTlsMode.Implicit);
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        await c.SendAsync(V2Tcp4("198.51.100.7", 51000, "203.0.113.25", 465));
        await c.StartTlsAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "mta.test",
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
                cert is not null && cert.GetCertHashString() == server.Certificate!.Thumbprint,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        }, Ct);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.example"), 250);
        Assert.Contains("[198.51.100.7]", ehlo.Lines[0]);
    }
}
