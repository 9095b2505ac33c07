// Hooks registered in code decide replies at every SMTP event; failing or slow handlers fail closed with 451 4.3.0.
using System.Diagnostics;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class HookTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    [Fact]
    public async Task Connect_hook_reject_replaces_the_greeting_and_closes()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<ConnectContext>("block", (ctx, ct) => R(HookResult.Reject("Go away", 554, "5.7.1"))));
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.7.1", "Go away");
        Assert.True(await c.IsClosedByServerAsync(), "connection left open after a refused greeting");
    }

    [Fact]
    public async Task Helo_hook_reject_refuses_the_greeting_so_MAIL_still_needs_one()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<HeloContext>("helo-check", (ctx, ct) => R(ctx.Domain == "bad.test" ? HookResult.Reject("Bad HELO name", 550, "5.7.1") : HookResult.Continue));
            r.Register<EhloContext>("ehlo-check", (ctx, ct) => R(ctx.Domain == "bad.test" ? HookResult.Reject("Bad EHLO name", 550, "5.7.1") : HookResult.Continue));
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("HELO bad.test"), 550, "5.7.1", "Bad HELO name");
        SmtpAssert.Reply(await c.CommandAsync("EHLO bad.test"), 550, "5.7.1", "Bad EHLO name");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("HELO good.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
    }

    [Fact]
    public async Task Rcpt_hook_reject_text_appears_verbatim()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<RcptContext>("deny-bob", (ctx, ct) =>
                R(ctx.Recipient.Address.LocalPart == "bob" ? HookResult.Reject("Bob does not take mail from you (policy #42)", 550, "5.7.1") : HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        var reply = SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.7.1");
        Assert.Equal("5.7.1 Bob does not take mail from you (policy #42)", Assert.Single(reply.Lines));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250, "2.1.5");
    }

    [Fact]
    public async Task Rcpt_hook_accept_overrides_the_relay_check()
    {
        var relayed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<RcptContext>("allow-partner", (ctx, ct) =>
                R(ctx.Recipient.Address.Domain == "partner.test" && !ctx.IsLocalDomain && !ctx.Session.IsTrustedClient ? HookResult.Accept() : HookResult.Continue));
            r.Register<DeferredContext>("observe", (ctx, ct) => { relayed.TrySetResult(ctx.Recipient.Address.ToString()); return R(HookResult.Continue); });
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@elsewhere.test>"), 554, "5.7.1", "Relay access denied");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@partner.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: relayed\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        // The queue took it and tried the remote route (no SMTP sender here, so it is deferred).
        Assert.Equal("x@partner.test", await relayed.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Throwing_handler_gives_451_4_3_0_and_the_session_goes_on()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<MailContext>("buggy", (ctx, ct) =>
                ctx.Transaction.ReversePath.LocalPart == "boom" ? throw new InvalidOperationException("plugin bug") : R(HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<boom@remote.test>"), 451, "4.3.0");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        // Fail closed: no transaction was opened by the failed MAIL.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<fine@remote.test>"), 250);
    }

    [Fact]
    public async Task Async_throwing_handler_gives_451_4_3_0()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<RcptContext>("async-buggy", async (ctx, ct) =>
            {
                await Task.Yield();
                throw new InvalidOperationException("async plugin bug");
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 451, "4.3.0");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 554, "5.5.1");
    }

    [Fact]
    public async Task Handler_that_never_returns_is_abandoned_after_the_budget()
    {
        await using var server = await MtaTestServer.StartAsync(
            o => o.Hooks.Timeout = TimeSpan.FromMilliseconds(300),
            r => r.Register<RcptContext>("stuck", async (ctx, ct) =>
            {
                await Task.Delay(Timeout.Infinite, CancellationToken.None); // ignores its token on purpose
                return HookResult.Continue;
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        var sw = Stopwatch.StartNew();
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 451, "4.3.0");
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task First_Continue_then_Reject_the_second_decides()
    {
        var calls = 0;
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<RcptContext>("first", (ctx, ct) => { Interlocked.Increment(ref calls); return R(HookResult.Continue); });
            r.Register<RcptContext>("second", (ctx, ct) => R(HookResult.Reject("second says no", 550, "5.7.1")));
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 550, "5.7.1", "second says no");
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task First_Accept_wins_and_later_handlers_are_not_called()
    {
        var secondCalls = 0;
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<RcptContext>("first", (ctx, ct) => R(HookResult.Accept()));
            r.Register<RcptContext>("second", (ctx, ct) => { Interlocked.Increment(ref secondCalls); return R(HookResult.Reject("never", 550, "5.7.1")); });
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250, "2.1.5");
        Assert.Equal(0, Volatile.Read(ref secondCalls));
    }

    [Fact]
    public async Task Disconnect_result_sends_421_and_closes()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<MailContext>("kick", (ctx, ct) => R(HookResult.Disconnect("Go away now"))));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 421, textContains: "Go away now");
        Assert.StartsWith("4.", reply.Lines[0]);
        Assert.True(await c.IsClosedByServerAsync(), "connection left open after Disconnect");
    }

    [Fact]
    public async Task Data_post_hook_adds_a_header_to_the_stored_message()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<DataPostContext>("stamp", (ctx, ct) =>
            {
                ctx.Transaction.AddHeader("X-Policy", "checked");
                return R(HookResult.Continue);
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: stamped\r\n\r\nbody\r\n"), 250);
        var text = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.Contains("\r\nX-Policy: checked\r\n", text[..(headerEnd + 2)]);
        // After the Received trace field, before the client's own header.
        Assert.True(text.IndexOf("Received:", StringComparison.Ordinal) < text.IndexOf("X-Policy:", StringComparison.Ordinal));
        Assert.True(text.IndexOf("X-Policy:", StringComparison.Ordinal) < text.IndexOf("Subject: stamped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Data_post_hook_reads_the_MIME_message_and_rejects_spam()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<DataPostContext>("spam-filter", async (ctx, ct) =>
            {
                var mime = await ctx.Message.GetMimeMessageAsync(ct);
                return mime.Subject?.Contains("SPAM", StringComparison.Ordinal) == true
                    ? HookResult.Reject("Spam is not welcome here", 550, "5.7.1")
                    : HookResult.Continue;
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: Buy now SPAM\r\n\r\nbody\r\n"),
            550, "5.7.1", "Spam is not welcome here");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: ham\r\n\r\nbody\r\n"), 250);
        var text = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        Assert.Contains("Subject: ham", text);
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Queue_hook_accept_takes_the_message_so_nothing_is_delivered()
    {
        var taken = 0;
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<QueueContext>("taker", async (ctx, ct) =>
            {
                var mime = await ctx.Message.GetMimeMessageAsync(ct);
                if (mime.Subject != "take-me") return HookResult.Continue;
                Interlocked.Increment(ref taken);
                return HookResult.Accept();
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: take-me\r\n\r\nbody\r\n"), 250, "2.0.0");
        Assert.Equal(1, Volatile.Read(ref taken));
        // A sentinel message through the normal path: once it is delivered, the taken one would have been too.
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: normal\r\n\r\nbody\r\n"), 250, "2.0.0", "queued as");
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Contains("Subject: normal", SmtpAssert.ReadText(file));
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Vrfy_and_Expn_hooks_answer_in_full()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<VrfyContext>("vrfy", (ctx, ct) => R(ctx.Argument == "alice" ? HookResult.Accept("alice <alice@example.test>", 250) : HookResult.Continue));
            r.Register<ExpnContext>("expn", (ctx, ct) => R(ctx.Argument == "staff"
                ? HookResult.Accept("Alice <alice@example.test>\nBob <bob@example.test>\nCarol <carol@example.test>", 250)
                : HookResult.Continue));
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var vrfy = SmtpAssert.Reply(await c.CommandAsync("VRFY alice"), 250);
        Assert.Equal("alice <alice@example.test>", SmtpAssert.TextOf(Assert.Single(vrfy.Lines)));
        SmtpAssert.Reply(await c.CommandAsync("VRFY nobody"), 252, "2.5.0");
        var expn = SmtpAssert.Reply(await c.CommandAsync("EXPN staff"), 250);
        Assert.Equal(["Alice <alice@example.test>", "Bob <bob@example.test>", "Carol <carol@example.test>"], expn.Lines.Select(SmtpAssert.TextOf));
        SmtpAssert.Reply(await c.CommandAsync("EXPN other"), 252);
    }

    [Fact]
    public async Task Send_with_a_mail_hook_that_accepts_terminal_delivery_proceeds()
    {
        var kinds = new System.Collections.Concurrent.ConcurrentQueue<TransactionKind>();
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<MailContext>("terminals", (ctx, ct) =>
            {
                kinds.Enqueue(ctx.Transaction.Kind);
                return R(ctx.Transaction.Kind == TransactionKind.Send ? HookResult.Accept() : HookResult.Continue);
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("SAML FROM:<a@remote.test>"), 502, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<a@remote.test>"), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: to your terminal\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        Assert.Equal([TransactionKind.SendAndMail, TransactionKind.Send], kinds.ToArray());
    }

    [Fact]
    public async Task Unrecognized_command_hook_can_implement_a_verb()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<UnrecognizedCommandContext>("xfoo", (ctx, ct) =>
                R(ctx.Verb == "XFOO" ? HookResult.Accept("XFOO done: " + ctx.Line, 250) : HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = SmtpAssert.Reply(await c.CommandAsync("xfoo bar baz"), 250);
        Assert.Equal("XFOO done: xfoo bar baz", SmtpAssert.TextOf(Assert.Single(reply.Lines)));
        SmtpAssert.Reply(await c.CommandAsync("XBAR"), 500, "5.5.2");
    }

    [Fact]
    public async Task Disconnect_hook_is_told_the_reason_quit()
    {
        var reason = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<DisconnectContext>("observer", (ctx, ct) => { reason.TrySetResult(ctx.Reason); return R(HookResult.Continue); }));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        Assert.Equal("quit", await reason.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Session_notes_pass_facts_from_one_hook_to_a_later_one()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<EhloContext>("remember", (ctx, ct) => { ctx.Session.Notes["ehlo"] = ctx.Domain; return R(HookResult.Continue); });
            r.Register<MailContext>("recall", (ctx, ct) =>
                R(ctx.Session.Notes.TryGetValue("ehlo", out var v) && (string?)v == "suspicious.test"
                    ? HookResult.Defer("Greylisted, try again later", 450, "4.7.1")
                    : HookResult.Continue));
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("EHLO suspicious.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 450, "4.7.1", "Greylisted");
        SmtpAssert.Reply(await c.CommandAsync("EHLO fine.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
    }
}
