// Compile errors stop start-up and `mta check` with FILE(LINE,COL): error CSxxxx; #r and #load are locked down.
using System.Text.Json;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Scripts;

namespace Mta.Scripts.Tests;

public sealed class CompileErrorTests
{
    [Fact]
    public async Task A_broken_script_stops_start_up_with_every_error_naming_file_line_column_and_code()
    {
        using var folder = new ScriptFolder();
        folder.Write("a-good", "On<NoopContext>(ctx => HookResult.Continue);");
        var broken = folder.Write("broken", "// line 1\nvar x = 1\nOn<RcptContext>(ctx => HookResult.Continue);\nint y = \"text\";\n");
        var ex = await Assert.ThrowsAsync<StartupException>(() => Scripting.StartAsync(folder));
        Assert.StartsWith("Scripts: ", ex.Message);
        Assert.Contains($"{broken}(2,10): error CS1002: ; expected", ex.Message);
        Assert.Contains($"{broken}(4,9): error CS0029:", ex.Message);
    }

    [Fact]
    public void Hash_r_outside_the_fixed_set_is_a_compile_error()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("net", "#r \"System.Net.Http\"\nOn<NoopContext>(ctx => HookResult.Continue);\n");
        var compiled = ScriptCompiler.Compile(path, folder.Path);
        var error = Assert.Single(compiled.Errors);
        Assert.StartsWith($"{path}(1,1): error CS0006:", error);
        Assert.Contains("System.Net.Http", error);
    }

    [Fact]
    public void Hash_r_of_an_allowed_assembly_compiles()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("mime", "#r \"MimeKit\"\nvar m = new MimeMessage();\n");
        Assert.Empty(ScriptCompiler.Compile(path, folder.Path).Errors);
    }

    [Fact]
    public void Hash_load_of_an_absolute_path_or_outside_the_folder_is_refused()
    {
        using var folder = new ScriptFolder();
        var outside = Path.Combine(Path.GetTempPath(), "mta-outside-" + Guid.NewGuid().ToString("n")[..8] + ".csx");
        File.WriteAllText(outside, "var secret = 1;\n");
        try
        {
            var path = folder.Write("escape", $"#load \"{outside}\"\n#load \"../{Path.GetFileName(outside)}\"\n");
            var errors = ScriptCompiler.Compile(path, folder.Path).Errors;
            Assert.Equal(2, errors.Count);
            Assert.StartsWith($"{path}(1,7): error CS1504:", errors[0]);
            Assert.StartsWith($"{path}(2,7): error CS1504:", errors[1]);
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public async Task Hash_load_of_a_helper_under_the_folder_works_and_helpers_are_not_scripts()
    {
        using var folder = new ScriptFolder();
        folder.Write("lib/users", "static bool IsBlocked(string local) => local == \"blocked\";\n");
        folder.Write("block", "#load \"lib/users.csx\"\nOn<RcptContext>(ctx => IsBlocked(ctx.Recipient.Address.LocalPart) ? HookResult.Reject(\"Blocked\", 550, \"5.7.1\") : HookResult.Continue);\n");
        await using var server = await Scripting.StartAsync(folder);
        Assert.Equal(["block"], server.ScriptHost().ScriptNames);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<blocked@example.test>"), 550, "5.7.1", "Blocked");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<fine@example.test>"), 250);
    }

    [Fact]
    public async Task A_missing_folder_is_no_scripts_and_disabled_scripts_load_nothing()
    {
        using var folder = new ScriptFolder();
        await using (var server = await MtaTestServer.StartAsync(o => o.Scripts.Directory = Path.Combine(folder.Path, "missing")))
            Assert.Empty(server.ScriptHost().ScriptNames);
        folder.Write("broken", "this is not C#");
        await using (var server = await Scripting.StartAsync(folder, configure: o => o.Scripts.Enabled = false))
            Assert.Empty(server.ScriptHost().ScriptNames);
    }

    [Fact]
    public async Task Top_level_code_that_throws_stops_start_up()
    {
        using var folder = new ScriptFolder();
        var path = folder.Write("throws", "throw new InvalidOperationException(\"no config for me\");\n");
        var ex = await Assert.ThrowsAsync<StartupException>(() => Scripting.StartAsync(folder));
        Assert.Contains(path, ex.Message);
        Assert.Contains("no config for me", ex.Message);
    }

    [Fact]
    public async Task Mta_check_reports_script_compile_errors_with_exit_code_2()
    {
        using var folder = new ScriptFolder();
        var broken = folder.Write("broken", "On<RcptContext>(ctx => HookResult.Nope);\n");
        var config = WriteConfig(folder);
        var (exitCode, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, exitCode);
        Assert.Contains($"{broken}(1,35): error CS0117:", output);
    }

    [Fact]
    public async Task Mta_check_compiles_the_shipped_scripts()
    {
        using var folder = new ScriptFolder();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "shipped-scripts"), "*.csx"))
            File.Copy(file, Path.Combine(folder.Path, Path.GetFileName(file)));
        var (exitCode, output) = await MtaProcess.RunToEndAsync("check", "--config", WriteConfig(folder));
        Assert.True(exitCode == 0, output);
        Assert.Contains("configuration OK", output);
    }

    private static string WriteConfig(ScriptFolder folder)
    {
        var data = Path.Combine(folder.Path, "data");
        var config = new Dictionary<string, object?>
        {
            ["HostName"] = "mta.test",
            ["DataDirectory"] = data,
            ["Listeners"] = new[] { new { Name = "smtp", Address = "127.0.0.1", Port = 0 } },
            ["LocalDomains"] = new[] { "example.test" },
            ["Scripts"] = new { Directory = folder.Path },
        };
        var path = Path.Combine(folder.Path, "mta.config.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }
}
