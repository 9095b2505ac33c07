// The order in which code, plugin and script handlers of one hook run, as docs/hooks.md and docs/plugins.md state it.
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Plugins.Tests.Infrastructure;

namespace Mta.Plugins.Tests;

public sealed class PluginScriptOrderTests
{
    private const string RejectEveryRecipientScript = """
        On<RcptContext>(ctx => HookResult.Reject("script says no", 550, "5.7.1"));
        """;

    [Fact]
    public async Task Code_then_plugins_whatever_their_order_then_scripts_and_the_first_decision_wins()
    {
        var root = PluginServer.NewRoot();
        var scripts = Directory.CreateDirectory(Path.Combine(root, "scripts")).FullName;
        await File.WriteAllTextAsync(Path.Combine(scripts, "10-reject-all.csx"), RejectEveryRecipientScript, TestContext.Current.CancellationToken);
        try
        {
            await using var server = await PluginServer.StartAsync(o =>
            {
                // A large Order still places a plugin before every script: Order sorts plugins among themselves.
                o.Plugins["probe"] = PluginConfig.Probe(5000, ("DecideText", "probe says no"));
                o.Scripts.Enabled = true;
                o.Scripts.Directory = scripts;
            }, root: root, hooks: r => r.Register<RcptContext>("code", (ctx, _) => ValueTask.FromResult(
                ctx.Recipient.Address.LocalPart == "code-accepts" ? HookResult.Accept("accepted in code") : HookResult.Continue)));

            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@example.test>"), 250);
            // Code handlers run first: the plugin's "decide" is never reached for this one.
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<code-accepts@example.test>"), 250, null, "accepted in code");
            // A plugin's Accept decides: the script, which refuses everything, is skipped (and so is the relay check).
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<accept@elsewhere.test>"), 250, null, "accepted by probe");
            // A plugin's refusal decides too.
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1", "probe says no");
            // The plugin's Continue hands the recipient on to the script.
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 550, "5.7.1", "script says no");
        }
        finally
        {
            PluginServer.TryDelete(root);
        }
    }
}
