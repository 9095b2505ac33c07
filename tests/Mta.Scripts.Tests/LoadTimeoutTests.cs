// A script whose top-level code never returns: the load times out, the old generation keeps running, and the host
// stays usable (later reloads, start-up refusing with the script's name).
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.Scripts.Tests;

public sealed class LoadTimeoutTests
{
    // Sleeps rather than spins: the abandoned thread cannot be stopped, and a spinning one would take a core from the
    // rest of the test run. To the host both are top-level code that never returns.
    private const string NeverReturns = "while (true) System.Threading.Thread.Sleep(1000);\n";

    // The bound on the test itself, far above the configured load timeout: without the fix the reload never returns.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static string RejectLocalPart(string local, string text)
        => $"On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == \"{local}\" ? HookResult.Reject(\"{text}\", 550, \"5.7.1\") : HookResult.Continue);\n";

    [Fact]
    public async Task A_reload_whose_top_level_code_never_returns_times_out_and_the_next_reload_works()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", RejectLocalPart("alice", "old rule"));
        var logs = new LogCapture();
        await using var server = await Scripting.StartAsync(folder, configure: o => o.Scripts.LoadTimeout = TimeSpan.FromSeconds(1), services: logs.AddTo);
        var host = server.ScriptHost();

        Scripting.Rewrite(path, NeverReturns);
        Assert.False(await host.ReloadAsync("policy").WaitAsync(Bound, TestContext.Current.CancellationToken));
        Assert.Equal(1, host.GenerationOf("policy"));
        Assert.Equal(1, host.AbandonedLoads);
        Assert.Contains(logs.Entries, e => e.Message.StartsWith("script policy not reloaded", StringComparison.Ordinal)
                                           && e.Message.Contains("did not finish within 1 s", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.EventId == Mta.Engine.LogEvents.ScriptLoads.Abandoned && e.Message.Contains("1 abandoned load(s)", StringComparison.Ordinal));

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 550, "5.7.1", "old rule");

        // The reload lock was released: the fixed file loads.
        Scripting.Rewrite(path, RejectLocalPart("carol", "fixed rule"));
        Assert.True(await host.ReloadAsync("policy").WaitAsync(Bound, TestContext.Current.CancellationToken));
        Assert.Equal(2, host.GenerationOf("policy"));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.7.1", "fixed rule");
    }

    [Fact]
    public async Task Start_up_with_a_script_that_never_returns_is_refused_naming_the_script()
    {
        using var folder = new ScriptFolder();
        folder.Write("10-stuck", NeverReturns);
        var start = Scripting.StartAsync(folder, configure: o => o.Scripts.LoadTimeout = TimeSpan.FromSeconds(1));
        var refused = await Assert.ThrowsAsync<StartupException>(() => start.WaitAsync(Bound, TestContext.Current.CancellationToken));
        Assert.Contains("10-stuck", refused.Message);
        Assert.Contains("did not finish within 1 s", refused.Message);
    }
}
