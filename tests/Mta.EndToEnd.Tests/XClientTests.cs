// XCLIENT over real sockets where the Received field or the EHLO offer is checked; the rest run in memory (Mta.Engine.Tests, SessionXClientTests).
using System.Collections.Concurrent;
using System.Net;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class XClientTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    /// <summary>The test client (127.0.0.1) may send XCLIENT; 192.0.2.0/24 is a trusted relay network.</summary>
    private static Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.XClient.Networks = ["127.0.0.0/8"];
            o.Relay.TrustedNetworks = ["192.0.2.0/24"];
            configure?.Invoke(o);
        }, hooks);
    [Fact]
    public async Task Advertised_to_an_allowed_network_and_ADDR_changes_the_client_hooks_see()
    {
        var connects = new ConcurrentQueue<(IPEndPoint Remote, bool Trusted)>();
        var mails = new ConcurrentQueue<(IPEndPoint Remote, string? Helo, bool Trusted)>();
        await using var server = await StartAsync(hooks: r =>
        {
            r.Register<ConnectContext>("record", (ctx, ct) => { connects.Enqueue((ctx.Session.RemoteEndPoint, ctx.Session.IsTrustedClient)); return R(HookResult.Continue); });
            r.Register<MailContext>("record", (ctx, ct) => { mails.Enqueue((ctx.Session.RemoteEndPoint, ctx.Session.HeloName, ctx.Session.IsTrustedClient)); return R(HookResult.Continue); });
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO proxy.test"), 250);
        Assert.Contains("XCLIENT ADDR NAME PORT PROTO HELO LOGIN DESTADDR DESTPORT REVERSE_NAME", ehlo.Lines);

        // A new greeting, and the session is back at its start: EHLO again before MAIL.
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=192.0.2.9 PORT=40000 NAME=mail.client.example"), 220, textContains: "mta.test ESMTP");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@client.example>"), 503, "5.5.1");
        var again = SmtpAssert.Reply(await c.CommandAsync("EHLO helo.client.example"), 250);
        Assert.Contains("[192.0.2.9]", again.Lines[0]);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@client.example>"), 250);

        Assert.Equal([(new IPEndPoint(IPAddress.Loopback, 0).Address, false), (IPAddress.Parse("192.0.2.9"), true)],
            connects.Select(x => (x.Remote.Address, x.Trusted)));
        var mail = Assert.Single(mails);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.9"), 40000), mail.Remote);
        Assert.Equal("helo.client.example", mail.Helo);
        Assert.True(mail.Trusted);
    }

    [Fact]
    public async Task The_Received_field_names_the_given_client()
    {
        await using var server = await StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=203.0.113.5 NAME=Mail.Client.Example HELO=helo.client.example PROTO=ESMTP"), 220);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@client.example", ["bob@example.test"], "Subject: x\r\n\r\nhi\r\n"), 250);
        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Contains("\r\nReceived: from helo.client.example (mail.client.example [203.0.113.5])\r\n", SmtpAssert.ReadText(file));
    }
}
