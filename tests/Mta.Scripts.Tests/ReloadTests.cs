// Hot reload: a saved script is swapped in for the next command without dropping sessions; a broken edit keeps the old one.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class ReloadTests
{
    private static string RejectLocalPart(string local, string text)
        => $"On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == \"{local}\" ? HookResult.Reject(\"{text}\", 550, \"5.7.1\") : HookResult.Continue);\n";

    [Fact]
    public async Task A_changed_script_applies_to_the_next_command_and_open_sessions_survive_the_reload()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", RejectLocalPart("alice", "old rule"));
        await using var server = await Scripting.StartAsync(folder, watch: true);

        await using var open = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(open);
        SmtpAssert.Reply(await open.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await open.CommandAsync("RCPT TO:<alice@example.test>"), 550, "5.7.1", "old rule");
        SmtpAssert.Reply(await open.CommandAsync("RCPT TO:<bob@example.test>"), 250);

        Scripting.Rewrite(path, RejectLocalPart("carol", "new rule"));
        await server.WaitForGenerationAsync("policy", 2);

        // The open session goes on, under the new rule, and completes its transaction.
        SmtpAssert.Reply(await open.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await open.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.7.1", "new rule");
        SmtpAssert.Reply(await open.CommandAsync("DATA"), 354);
        await open.SendAsync("Subject: across a reload\r\n\r\nbody\r\n.\r\n");
        SmtpAssert.Reply(await open.ReadReplyAsync(), 250);
        await server.WaitForMailAsync("bob");

        await using var next = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(next);
        SmtpAssert.Reply(await next.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await next.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.7.1", "new rule");
    }

    [Fact]
    public async Task A_broken_edit_keeps_the_old_version_running()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", RejectLocalPart("alice", "old rule"));
        await using var server = await Scripting.StartAsync(folder);
        var host = server.ScriptHost();

        Scripting.Rewrite(path, "On<RcptContext>(ctx => HookResult.Nope);");
        Assert.False(await host.ReloadAsync("policy"));
        Assert.Equal(1, host.GenerationOf("policy"));
        Scripting.Rewrite(path, "throw new Exception(\"top-level failure\");");
        Assert.False(await host.ReloadAsync("policy"));

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 550, "5.7.1", "old rule");

        // Fixing the file brings the next generation.
        Scripting.Rewrite(path, RejectLocalPart("carol", "fixed rule"));
        Assert.True(await host.ReloadAsync("policy"));
        Assert.Equal(2, host.GenerationOf("policy"));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.7.1", "fixed rule");
    }

    [Fact]
    public async Task The_watcher_keeps_the_old_version_when_a_save_does_not_compile()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", RejectLocalPart("alice", "old rule"));
        await using var server = await Scripting.StartAsync(folder, watch: true);
        Scripting.Rewrite(path, "On<RcptContext>(ctx => HookResult.Nope);");
        await Task.Delay(ScriptHostDebounce * 4);
        Scripting.Rewrite(path, RejectLocalPart("dave", "good again"));
        await server.WaitForGenerationAsync("policy", 2);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<dave@example.test>"), 550, "5.7.1", "good again");
    }

    private static readonly TimeSpan ScriptHostDebounce = Mta.Engine.Extensibility.Scripts.ScriptHost.Debounce;

    [Fact]
    public async Task Deleting_a_script_removes_its_handlers_and_a_new_file_is_picked_up()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", RejectLocalPart("alice", "old rule"));
        await using var server = await Scripting.StartAsync(folder, watch: true);
        var host = server.ScriptHost();

        File.Delete(path);
        await server.WaitForGenerationAsync("policy", 0);
        Assert.Empty(host.ScriptNames);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);

        folder.Write("another", RejectLocalPart("erin", "new file"));
        await server.WaitForGenerationAsync("another", 1);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<erin@example.test>"), 550, "5.7.1", "new file");
    }

    [Fact]
    public async Task Scripts_run_in_file_name_order_after_plugins()
    {
        using var folder = new ScriptFolder();
        folder.Write("b-second", "On<RcptContext>(ctx => HookResult.Reject(\"b\", 550, \"5.7.1\"));");
        folder.Write("a-first", "On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == \"x\" ? HookResult.Reject(\"a\", 550, \"5.7.1\") : HookResult.Continue);");
        await using var server = await Scripting.StartAsync(folder);
        var pipeline = (Mta.Engine.Extensibility.HookPipeline)server.Services.GetService(typeof(Mta.Engine.Extensibility.HookPipeline))!;
        Assert.Equal(["script:a-first", "script:b-second"], pipeline.HandlerNames<Mta.Abstractions.RcptContext>());

        // A new file that sorts first takes its place in front.
        folder.Write("0-zero", "On<RcptContext>(ctx => HookResult.Continue);");
        Assert.True(await server.ScriptHost().ReloadAsync("0-zero"));
        Assert.Equal(["script:0-zero", "script:a-first", "script:b-second"], pipeline.HandlerNames<Mta.Abstractions.RcptContext>());
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@example.test>"), 550, "5.7.1", "a");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<y@example.test>"), 550, "5.7.1", "b");
    }

    [Fact]
    public async Task State_is_kept_across_reloads()
    {
        using var folder = new ScriptFolder();
        const string code = """
            // v1
            On<NoopContext>(ctx => HookResult.Accept($"count {State.Increment("noops")}", 250));
            """;
        var path = folder.Write("counter", code);
        await using var server = await Scripting.StartAsync(folder);
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250, textContains: "count 1");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250, textContains: "count 2");
        Scripting.Rewrite(path, code.Replace("v1", "v2"));
        Assert.True(await server.ScriptHost().ReloadAsync("counter"));
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250, textContains: "count 3");
    }

    [Fact]
    public async Task Changing_a_loaded_helper_reloads_the_scripts_that_load_it()
    {
        using var folder = new ScriptFolder();
        var helper = folder.Write("lib/names", "static string Blocked = \"alice\";\n");
        folder.Write("policy", "#load \"lib/names.csx\"\nOn<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == Blocked ? HookResult.Reject(\"blocked\", 550, \"5.7.1\") : HookResult.Continue);\n");
        await using var server = await Scripting.StartAsync(folder, watch: true);
        Scripting.Rewrite(helper, "static string Blocked = \"bob\";\n");
        await server.WaitForGenerationAsync("policy", 2);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.7.1", "blocked");
    }
}
