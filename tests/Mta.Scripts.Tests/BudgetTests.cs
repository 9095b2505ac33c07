// A script that throws, never returns or spins gives 451 4.3.0 within its budget, and the session goes on.
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class BudgetTests
{
    [Fact]
    public async Task A_throwing_script_answers_451_4_3_0_and_the_session_goes_on()
    {
        using var folder = new ScriptFolder();
        folder.Write("throws", "On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == \"boom\" ? throw new InvalidOperationException(\"bug\") : HookResult.Continue);\n");
        await using var server = await Scripting.StartAsync(folder);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<boom@example.test>"), 451, "4.3.0");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<fine@example.test>"), 250);
    }

    [Fact]
    public async Task A_script_that_never_returns_answers_451_within_its_budget_and_the_session_goes_on()
    {
        using var folder = new ScriptFolder();
        // Ignores its token on purpose: the host must not depend on the script's cooperation.
        folder.Write("hangs", "On<RcptContext>(async ctx => { if (ctx.Recipient.Address.LocalPart == \"hang\") await Task.Delay(Timeout.Infinite); return HookResult.Continue; });\n");
        await using var server = await Scripting.StartAsync(folder, timeout: TimeSpan.FromMilliseconds(500));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        var watch = Stopwatch.StartNew();
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<hang@example.test>"), 451, "4.3.0");
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(3));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<fine@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task A_script_spinning_the_cpu_without_looking_at_its_token_answers_451_and_the_session_goes_on()
    {
        using var folder = new ScriptFolder();
        // A busy loop with no await and no token check. It is bounded (6 s) only so that the test run does not keep a
        // core busy; an endless one behaves the same for the session and leaks its thread.
        folder.Write("spins", """
            On<RcptContext>(ctx =>
            {
                if (ctx.Recipient.Address.LocalPart != "spin") return HookResult.Continue;
                var until = Environment.TickCount64 + 6000;
                long n = 0;
                while (Environment.TickCount64 < until) n++;
                return n < 0 ? HookResult.Accept() : HookResult.Continue;
            });
            """);
        await using var server = await Scripting.StartAsync(folder, timeout: TimeSpan.FromMilliseconds(500));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        var watch = Stopwatch.StartNew();
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(3));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<fine@example.test>"), 250);
        // Other sessions are served meanwhile.
        await using var other = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await other.CommandAsync("EHLO other.test"), 250);
    }
}
