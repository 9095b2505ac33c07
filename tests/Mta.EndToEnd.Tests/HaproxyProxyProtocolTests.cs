// The PROXY protocol as a real HAProxy sends it: send-proxy (v1) and send-proxy-v2, with SMTP health checks that carry it.
using System.Collections.Concurrent;
using System.Net;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class HaproxyProxyProtocolTests
{
    [Theory]
    [InlineData("v1", "send-proxy", ProxyProtocolMode.V1)]
    [InlineData("v2", "send-proxy-v2", ProxyProtocolMode.V2)]
    public async Task The_session_sees_the_client_HAProxy_names_and_its_health_checks_pass(string name, string sendProxy, ProxyProtocolMode mode)
    {
        HaproxyServer.SkipUnlessInstalled();
        var connects = new ConcurrentQueue<IPEndPoint>();
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].ProxyProtocol = mode;
            o.Listeners[0].ProxyNetworks = ["127.0.0.1/32"];
        }, r => r.Register<ConnectContext>("record", (ctx, ct) =>
        {
            connects.Enqueue(ctx.Session.RemoteEndPoint);
            return ValueTask.FromResult(HookResult.Continue);
        }));
        // The health check speaks SMTP through the same header (check-send-proxy): a listener that refused it would be
        // marked down and the client below would get no server.
        await using var haproxy = await HaproxyServer.StartAsync(new HaproxyServer.Frontend(name, [("mta", server.EndPoint.Port)],
            $"{sendProxy} check check-send-proxy inter 200ms fall 2 rise 1", "option smtpchk EHLO haproxy.test"));

        // The client comes from 127.0.0.7; HAProxy connects to the server from 127.0.0.1. Only the header can say .7.
        var client = IPAddress.Parse("127.0.0.7");
        await using var c = await RawSmtpClient.ConnectFromAsync(client, haproxy.EndPoint(name));
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("[127.0.0.7]", ehlo.Lines[0]);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@client.test", ["bob@example.test"], "Subject: via haproxy\r\n\r\nhi\r\n"), 250);
        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Contains("\r\nReceived: from client.test ([127.0.0.7])\r\n", SmtpAssert.ReadText(file));
        Assert.Contains(connects, e => e.Address.Equals(client));

        // Several health checks have run by now (every 200 ms): each was a whole SMTP session through the header.
        await Mta.Testing.Conditions.WaitUntilAsync(() => connects.Count(e => IPAddress.IsLoopback(e.Address) && !e.Address.Equals(client)) >= 2,
            "two HAProxy health checks", TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.DoesNotContain("DOWN", haproxy.Output);
    }
}
