// What a script author sees: errors name the script's file and line, a failing handler's log names the session, a
// script resolves paths from its own folder, and its settings key drops the order prefix.
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.Scripts.Tests;

public sealed class ScriptAuthoringTests
{
    [Fact]
    public async Task Top_level_code_that_throws_is_reported_with_the_script_file_and_line()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("10-broken", "var limit = 3;\nthrow new InvalidOperationException(\"no limit\");\n");

        var refused = await Assert.ThrowsAsync<StartupException>(() => Scripting.StartAsync(folder));

        Assert.Contains($"top-level code threw InvalidOperationException: no limit (at {path}:line 2)", refused.Message);
    }

    [Fact]
    public async Task A_throw_in_a_loaded_helper_names_a_script_line()
    {
        using var folder = new ScriptFolder();
        var helper = folder.Write("lib/limits", "int Limit(string s)\n{\n    return int.Parse(s);\n}\n");
        var script = folder.Write("policy", "#load \"lib/limits.csx\"\nvar max = Limit(\"many\");\n");

        var refused = await Assert.ThrowsAsync<StartupException>(() => Scripting.StartAsync(folder));

        Assert.Contains("top-level code threw FormatException", refused.Message);
        // Scripts are compiled optimised: the JIT may inline a small helper, and its frame is then the caller's line.
        Assert.True(refused.Message.Contains($"(at {helper}:line 3)", StringComparison.Ordinal)
                    || refused.Message.Contains($"(at {script}:line 2)", StringComparison.Ordinal), refused.Message);
    }

    [Fact]
    public async Task A_handler_that_throws_is_logged_with_the_session_id_and_the_script_file_and_line()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("policy", """
            On<RcptContext>(ctx =>
            {
                if (ctx.Recipient.Address.LocalPart == "boom") throw new InvalidOperationException("boom");
                return HookResult.Continue;
            });
            """);
        var logs = new LogCapture();
        await using var server = await Scripting.StartAsync(folder, services: logs.AddTo);

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<boom@example.test>"), 451, "4.3.0");

        var failed = Assert.Single(logs.Entries, e => e.Message.StartsWith("Hook handler script:policy failed", StringComparison.Ordinal));
        Assert.True(failed.Message.Contains($"(at {path}:line 3)", StringComparison.Ordinal), failed.Message + "\n" + failed.Exception);
        var session = Assert.IsType<string>(failed.Values["SessionId"]);
        Assert.False(string.IsNullOrWhiteSpace(session));
        Assert.Contains($"in session {session}", failed.Message);
    }

    [Fact]
    public async Task A_script_knows_its_folder_and_resolves_relative_paths_from_it()
    {
        using var folder = new ScriptFolder();
        Directory.CreateDirectory(Path.Combine(folder.Path, "data"));
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "data", "reply.txt"), "read beside the script\n", TestContext.Current.CancellationToken);
        folder.Write("reply", """
            var text = File.ReadAllText(ResolvePath("data/reply.txt")).Trim();
            var here = ScriptDirectory;
            On<RcptContext>(ctx => HookResult.Reject(text + " in " + here, 550, "5.7.1"));
            """);
        await using var server = await Scripting.StartAsync(folder);

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<a@example.test>"), 550, "5.7.1", "read beside the script in " + folder.Path);
    }

    private const string RejectWithSetting = """On<RcptContext>(ctx => HookResult.Reject(Settings["Text"] ?? "unset", 550, "5.7.1"));""";

    [Theory]
    [InlineData("blocklist", "blocklist")]
    [InlineData("10-blocklist", "the old key")]
    public async Task Settings_are_found_under_the_name_without_its_order_prefix_and_under_the_file_name(string key, string expected)
    {
        using var folder = new ScriptFolder();
        folder.Write("10-blocklist", RejectWithSetting);
        var text = key == "blocklist" ? "blocklist" : "the old key";
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(($"{key}:Text", text)));

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<a@example.test>"), 550, "5.7.1", expected);
    }

    [Fact]
    public async Task The_key_without_the_order_prefix_wins_over_the_file_name()
    {
        using var folder = new ScriptFolder();
        folder.Write("10-blocklist", RejectWithSetting);
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(("10-blocklist:Text", "old"), ("blocklist:Text", "new")));

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<a@example.test>"), 550, "5.7.1", "new");
    }

    [Theory]
    [InlineData("10-blocklist", "blocklist")]
    [InlineData("010_rate-limit", "rate-limit")]
    [InlineData("blocklist", "blocklist")]
    [InlineData("2024", "2024")]
    [InlineData("10-", "10-")]
    public void The_settings_key_drops_a_numeric_order_prefix(string scriptName, string key)
        => Assert.Equal(key, Mta.Engine.Extensibility.Scripts.ScriptHost.SettingsKeyOf(scriptName));
}
