// XCLIENT over in-memory sessions: offered to XClient:Networks only; afterwards relay checks, hooks and AUTH state follow the given client.
using System.Collections.Concurrent;
using System.Net;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionXClientTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    /// <summary>The test client (127.0.0.1) may send XCLIENT; 192.0.2.0/24 is a trusted relay network.</summary>
    private static InMemorySmtpServer Start(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null) =>
        InMemorySmtpServer.Create(o =>
        {
            o.XClient.Networks = ["127.0.0.0/8"];
            o.Relay.TrustedNetworks = ["192.0.2.0/24"];
            configure?.Invoke(o);
        }, hooks);

    [Fact]
    public async Task Trusted_network_status_follows_the_new_address_for_relaying()
    {
        await using var server = Start();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        ReplyAssert.Is(await c.CommandAsync("RSET"), 250);

        // HELO and PROTO given: the session goes on without a new EHLO, as Postfix's does.
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=192.0.2.9 HELO=relay.client.example PROTO=ESMTP"), 220);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test> SIZE=100"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RSET"), 250);

        // Another XCLIENT is still judged on the real connection, and the new client is not trusted.
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=IPV6:2001:db8::1 HELO=other.example"), 220);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        ReplyAssert.Is(await c.CommandAsync("RSET"), 250);

        // An unknown address is never trusted.
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=[UNAVAILABLE] HELO=x.example"), 220);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1");
    }

    [Fact]
    public async Task LOGIN_makes_the_client_authenticated_so_it_may_relay()
    {
        var users = new ConcurrentQueue<string?>();
        await using var server = Start(hooks: r =>
            r.Register<RcptContext>("record", (ctx, ct) => { users.Enqueue(ctx.Session.AuthenticatedUser); return R(HookResult.Continue); }));
        await using var c = await server.ConnectAsync();
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=198.51.100.7 LOGIN=alice"), 220);
        var ehlo = ReplyAssert.Is(await c.CommandAsync("EHLO client.example"), 250);
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RSET"), 250);
        // Without LOGIN the next XCLIENT forgets the user, as Postfix does.
        ReplyAssert.Is(await c.CommandAsync("XCLIENT NAME=[TEMPUNAVAIL]"), 220);
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1");
        Assert.Equal(["alice", null], users);
    }

    [Fact]
    public async Task Refused_and_not_advertised_outside_its_networks()
    {
        foreach (var networks in new List<string>[] { [], ["192.0.2.0/24", "2001:db8::/32"] })
        {
            await using var server = Start(o => o.XClient.Networks = networks);
            await using var c = await server.ConnectAsync();
            var ehlo = ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
            Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("XCLIENT", StringComparison.Ordinal));
            ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=192.0.2.9"), 550, "5.7.0", "insufficient authorization");
            // Nothing changed, and the session goes on.
            ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
            ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");
        }
    }

    [Fact]
    public async Task Inside_a_transaction_is_503_and_malformed_is_501()
    {
        await using var server = Start();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=192.0.2.9"), 503, "5.5.1", "transaction in progress");
        // The transaction is still there.
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RSET"), 250);
        ReplyAssert.Is(await c.CommandAsync("XCLIENT"), 501, "5.5.4", "Syntax: XCLIENT attribute=value");
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=999.1.1.1"), 501, "5.5.4", "Bad XCLIENT ADDR syntax");
        ReplyAssert.Is(await c.CommandAsync("XCLIENT COLOUR=red"), 501, "5.5.4", "Bad XCLIENT attribute name: COLOUR");
        ReplyAssert.Is(await c.CommandAsync("XCLIENT PROTO=UUCP"), 501, "5.5.4");
        // None of them took effect: still 127.0.0.1, still not trusted.
        var ehlo = ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("[127.0.0.1]", ehlo.Lines[0]);
    }

    [Fact]
    public async Task The_connect_hook_judges_the_new_client_again()
    {
        await using var server = Start(hooks: r =>
            r.Register<ConnectContext>("block-203", (ctx, ct) => R(ctx.Session.RemoteEndPoint.Address.Equals(IPAddress.Parse("203.0.113.66"))
                ? HookResult.Reject("Blocked client", 554, "5.7.1") : HookResult.Continue)));
        await using var c = await server.ConnectAsync();
        ReplyAssert.Is(await c.CommandAsync("XCLIENT ADDR=203.0.113.66"), 554, "5.7.1", "Blocked client");
        Assert.True(await c.IsClosedByServerAsync());
        // The server goes on.
        await using var d = await server.ConnectAsync();
        ReplyAssert.Is(await d.CommandAsync("XCLIENT ADDR=203.0.113.67"), 220);
    }
}
