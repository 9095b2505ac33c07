// SEND, SOML and SAML in the session (RFC 821 3.4): advertised when terminal delivery is on, 450 for a user not logged in, local only, spooled with their kind.
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Control;
using Mta.Engine.Terminal;
using Mta.EndToEnd.Tests.Infrastructure;
using static Mta.Testing.Conditions;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class TerminalCommandsTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    /// <summary>Terminal delivery as the session sees it: on or off, and who is logged in.</summary>
    private sealed class TestTerminals(bool enabled, params string[] active) : ITerminals
    {
        public bool Enabled { get; } = enabled;
        public ConcurrentQueue<string> Asked { get; } = new();
        public ConcurrentQueue<(string User, TerminalMessage Message)> Shown { get; } = new();

        public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
        {
            Asked.Enqueue(user);
            return ValueTask.FromResult(active.Contains(user, StringComparer.OrdinalIgnoreCase));
        }

        public ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
        {
            Shown.Enqueue((user, message));
            return ValueTask.FromResult(active.Contains(user, StringComparer.OrdinalIgnoreCase));
        }
    }

    private static Task<MtaTestServer> StartAsync(TestTerminals terminals, Action<Engine.Configuration.MtaOptions>? configure = null,
        Action<IHookRegistrar>? hooks = null, string? dataDirectory = null, bool keepDataDirectory = false) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.Users = ["alice", "bob", "postmaster"];
            o.Mailboxes.AcceptAnyLocalPart = false;
            configure?.Invoke(o);
        }, hooks, dataDirectory: dataDirectory, keepDataDirectory: keepDataDirectory,
            services: s => s.AddSingleton<ITerminals>(terminals));

    [Fact]
    public async Task EHLO_and_HELP_list_SEND_SOML_SAML_when_terminal_delivery_is_on()
    {
        await using var server = await StartAsync(new TestTerminals(enabled: true));
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("SEND", ehlo.Lines);
        Assert.Contains("SOML", ehlo.Lines);
        Assert.Contains("SAML", ehlo.Lines);
        var help = SmtpAssert.Reply(await c.CommandAsync("HELP"), 214, "2.0.0");
        Assert.Contains(help.Lines, l => l.Contains("SEND SOML SAML", StringComparison.Ordinal));
        SmtpAssert.Reply(await c.CommandAsync("HELP SOML"), 214, "2.0.0", "SOML FROM:");
    }

    [Fact]
    public async Task With_terminal_delivery_off_they_stay_502_and_are_not_advertised()
    {
        await using var server = await StartAsync(new TestTerminals(enabled: false, "alice"));
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("SEND", ehlo.Lines);
        Assert.DoesNotContain("SOML", ehlo.Lines);
        var help = SmtpAssert.Reply(await c.CommandAsync("HELP"), 214);
        Assert.DoesNotContain(help.Lines, l => l.Contains("SEND", StringComparison.Ordinal));
        foreach (var verb in new[] { "SEND", "SOML", "SAML" })
            SmtpAssert.Reply(await c.CommandAsync($"{verb} FROM:<a@remote.test>"), 502, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
    }

    [Fact]
    public async Task SEND_to_a_user_without_an_active_terminal_gets_450_and_to_an_active_one_250()
    {
        var terminals = new TestTerminals(enabled: true, "alice");
        await using var server = await StartAsync(terminals);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<a@remote.test>"), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 450, "4.2.1", "<bob@example.test>: not logged in (no active terminal)");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250, "2.1.5");
        // The mailbox rules come first: an unknown user is unknown, logged in or not.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<nobody@example.test>"), 550, "5.1.1");
        // postmaster is asked for as the mailbox user that receives it.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<postmaster>"), 450, "4.2.1");
        Assert.Equal(["bob", "alice", "postmaster"], terminals.Asked.ToArray());
        // A nested SEND is refused as a nested MAIL is.
        SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<a@remote.test>"), 503, "5.5.1");
    }

    [Fact]
    public async Task SOML_and_SAML_take_a_user_who_is_not_logged_in_as_MAIL_would()
    {
        var terminals = new TestTerminals(enabled: true);
        await using var server = await StartAsync(terminals);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        foreach (var verb in new[] { "SOML", "SAML" })
        {
            SmtpAssert.Reply(await c.CommandAsync($"{verb} FROM:<a@remote.test>"), 250, "2.0.0");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250, "2.1.5");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<nobody@example.test>"), 550, "5.1.1");
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        }
        Assert.Empty(terminals.Asked);
    }

    [Fact]
    public async Task A_remote_recipient_gets_550_5_7_1_even_from_a_trusted_client_unless_a_rcpt_hook_accepts()
    {
        await using var server = await StartAsync(new TestTerminals(enabled: true, "alice"),
            o => o.Relay.TrustedNetworks = ["127.0.0.0/8"],
            r => r.Register<RcptContext>("gateway", (ctx, ct) =>
                R(ctx.Recipient.Address.Domain == "gateway.test" ? HookResult.Accept() : HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        foreach (var verb in new[] { "SEND", "SOML", "SAML" })
        {
            SmtpAssert.Reply(await c.CommandAsync($"{verb} FROM:<a@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@remote.test>"), 550, "5.7.1", "terminal delivery is local only");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@gateway.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        }
        // MAIL keeps its own rules: the trusted client may relay.
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@remote.test>"), 250);
    }

    [Fact]
    public async Task The_mail_hook_still_runs_for_SEND_and_may_refuse_it()
    {
        var kinds = new ConcurrentQueue<TransactionKind>();
        await using var server = await StartAsync(new TestTerminals(enabled: true, "alice"), hooks: r =>
            r.Register<MailContext>("no-send", (ctx, ct) =>
            {
                kinds.Enqueue(ctx.Transaction.Kind);
                return R(ctx.Transaction.Kind == TransactionKind.Send ? HookResult.Reject("No terminal messages from you", 550, "5.7.1") : HookResult.Continue);
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<a@remote.test>"), 550, "5.7.1", "No terminal messages from you");
        SmtpAssert.Reply(await c.CommandAsync("SAML FROM:<a@remote.test>"), 250);
        Assert.Equal([TransactionKind.Send, TransactionKind.SendAndMail], kinds.ToArray());
    }

    [Fact]
    public async Task SEND_SOML_SAML_messages_are_spooled_with_their_kind_and_keep_it_across_a_restart()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-e2e-" + Guid.NewGuid().ToString("n")[..12]);
        var terminals = new TestTerminals(enabled: true, "alice");
        try
        {
            var first = new ConcurrentDictionary<string, TransactionKind>();
            // First life: the route hook notes each message's kind and keeps it queued (deferred).
            await using (var server = await StartAsync(terminals, hooks: r => r.Register<RouteContext>("note", (ctx, ct) =>
                {
                    first[ctx.Message.QueueId] = ctx.Message.Kind;
                    return R(HookResult.Defer("kept for the test", 451, "4.3.0"));
                }), dataDirectory: root, keepDataDirectory: true))
            {
                await using var c = await SmtpAssert.ConnectAsync(server);
                await SmtpAssert.EhloAsync(c);
                var ids = new Dictionary<string, TransactionKind>();
                foreach (var (verb, kind) in new[] { ("SEND", TransactionKind.Send), ("SOML", TransactionKind.SendOrMail), ("SAML", TransactionKind.SendAndMail) })
                {
                    SmtpAssert.Reply(await c.CommandAsync($"{verb} FROM:<a@remote.test>"), 250);
                    var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, ["alice@example.test"], $"Subject: {verb}\r\n\r\nhello\r\n"), 250, "2.0.0");
                    ids[SmtpAssert.QueueIdOf(reply.Text)] = kind;
                }
                await WaitUntilAsync(() => first.Count == 3, "route hook saw all three messages", TimeSpan.FromSeconds(20));
                Assert.Equal(ids.OrderBy(p => p.Key), first.OrderBy(p => p.Key));
                await server.Services.GetRequiredService<Engine.Queue.QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(20));
            }

            // Second life: recovered from the spool, and flushed so the route hook sees them again.
            var second = new ConcurrentDictionary<string, TransactionKind>();
            await using (var server = await StartAsync(terminals, hooks: r => r.Register<RouteContext>("note", (ctx, ct) =>
                {
                    second[ctx.Message.QueueId] = ctx.Message.Kind;
                    ctx.RouteTo(new Route(RouteKind.Discard, "test"));
                    return R(HookResult.Accept());
                }), dataDirectory: root))
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
                while (second.Count < 3 && DateTime.UtcNow < deadline)
                {
                    server.Services.GetRequiredService<IQueueAdministration>().Flush();
                    await Task.Delay(100);
                }
                Assert.Equal(first.OrderBy(p => p.Key), second.OrderBy(p => p.Key));
            }
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

}
