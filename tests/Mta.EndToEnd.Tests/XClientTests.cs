// XCLIENT over real sockets: offered to XClient:Networks only; afterwards hooks, relay checks and Received see the given client.
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
    public async Task Trusted_network_status_follows_the_new_address_for_relaying()
    {
        await using var server = await StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);

        // HELO and PROTO given: the session goes on without a new EHLO, as Postfix's does.
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=192.0.2.9 HELO=relay.client.example PROTO=ESMTP"), 220);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test> SIZE=100"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);

        // Another XCLIENT is still judged on the real connection, and the new client is not trusted.
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=IPV6:2001:db8::1 HELO=other.example"), 220);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);

        // An unknown address is never trusted.
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=[UNAVAILABLE] HELO=x.example"), 220);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1");
    }

    [Fact]
    public async Task LOGIN_makes_the_client_authenticated_so_it_may_relay()
    {
        var users = new ConcurrentQueue<string?>();
        await using var server = await StartAsync(hooks: r =>
            r.Register<RcptContext>("record", (ctx, ct) => { users.Enqueue(ctx.Session.AuthenticatedUser); return R(HookResult.Continue); }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=198.51.100.7 LOGIN=alice"), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.example"), 250);
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        // Without LOGIN the next XCLIENT forgets the user, as Postfix does.
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT NAME=[TEMPUNAVAIL]"), 220);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1");
        Assert.Equal(["alice", null], users);
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

    [Fact]
    public async Task Refused_and_not_advertised_outside_its_networks()
    {
        foreach (var networks in new List<string>[] { [], ["192.0.2.0/24", "2001:db8::/32"] })
        {
            await using var server = await StartAsync(o => o.XClient.Networks = networks);
            await using var c = await SmtpAssert.ConnectAsync(server);
            var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
            Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("XCLIENT", StringComparison.Ordinal));
            SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=192.0.2.9"), 550, "5.7.0", "insufficient authorization");
            // Nothing changed, and the session goes on.
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        }
    }

    [Fact]
    public async Task Inside_a_transaction_is_503_and_malformed_is_501()
    {
        await using var server = await StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=192.0.2.9"), 503, "5.5.1", "transaction in progress");
        // The transaction is still there.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT"), 501, "5.5.4", "Syntax: XCLIENT attribute=value");
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=999.1.1.1"), 501, "5.5.4", "Bad XCLIENT ADDR syntax");
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT COLOUR=red"), 501, "5.5.4", "Bad XCLIENT attribute name: COLOUR");
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT PROTO=UUCP"), 501, "5.5.4");
        // None of them took effect: still 127.0.0.1, still not trusted.
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("[127.0.0.1]", ehlo.Lines[0]);
    }

    [Fact]
    public async Task The_connect_hook_judges_the_new_client_again()
    {
        await using var server = await StartAsync(hooks: r =>
            r.Register<ConnectContext>("block-203", (ctx, ct) => R(ctx.Session.RemoteEndPoint.Address.Equals(IPAddress.Parse("203.0.113.66"))
                ? HookResult.Reject("Blocked client", 554, "5.7.1") : HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=203.0.113.66"), 554, "5.7.1", "Blocked client");
        Assert.True(await c.IsClosedByServerAsync());
        // The server goes on.
        await using var d = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await d.CommandAsync("XCLIENT ADDR=203.0.113.67"), 220);
    }
}
