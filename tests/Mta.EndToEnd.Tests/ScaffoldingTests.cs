// `mta new script` and `mta new plugin` write skeletons that the real script host and plugin loader run as written.
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ScaffoldingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-new-" + Guid.NewGuid().ToString("n")[..12]);

    [Fact]
    public async Task A_new_rcpt_script_runs_as_written()
    {
        var scripts = Path.Combine(_root, "scripts");
        var (code, output) = await MtaProcess.RunToEndAsync("new", "script", "rcpt", "no-nobody", "--directory", scripts);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(scripts, "no-nobody.csx")), output);

        await using var server = await MtaTestServer.StartAsync(o => o.Scripts.Directory = scripts);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<a@client.test>");
        var refused = await smtp.CommandAsync("RCPT TO:<nobody@example.test>");
        Assert.Equal(550, refused.Code);
        Assert.StartsWith("5.1.1", refused.Lines[0]);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code);
    }

    [Fact]
    public async Task A_new_script_for_an_unknown_hook_is_refused()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("new", "script", "frobnicate", "x", "--directory", _root);
        Assert.Equal(2, code);
        Assert.Contains("unknown hook", output);
    }

    [Theory]
    [InlineData("csharp")]
    [InlineData("fsharp")]
    public async Task A_new_plugin_builds_into_the_plugins_folder_and_loads(string language)
    {
        // The site layout the docs describe: sources in plugin-src/NAME, the build in plugins/NAME where the server looks.
        var sources = Path.Combine(_root, "plugin-src", "sender-block");
        var plugins = Path.Combine(_root, "plugins");
        var (code, output) = await MtaProcess.RunToEndAsync("new", "plugin", "sender-block", "--lang", language,
            "--directory", sources, "--output", Path.Combine(plugins, "sender-block"));
        Assert.True(code == 0, output);

        var (buildCode, buildOutput) = await DotnetAsync(sources, "build", "-c", "Release", "-nologo", "-v", "q");
        Assert.True(buildCode == 0, buildOutput);
        var built = Path.Combine(plugins, "sender-block");
        Assert.True(File.Exists(Path.Combine(built, "sender-block.dll")), buildOutput);
        Assert.False(File.Exists(Path.Combine(built, "Mta.Abstractions.dll")), "the contract must not be copied into the plugin");
        Assert.False(Directory.Exists(Path.Combine(sources, "bin")), "the build must not go into the plugin's sources");

        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.PluginsDirectory = plugins;
            var settings = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Settings:BlockedSenders:0"] = "spam@client.test",
                    ["Settings:RejectText"] = "Go away, " + language,
                })
                .Build().GetSection("Settings");
            o.Plugins["sender-block"] = new PluginOptions { Settings = settings };
        });
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        var refused = await smtp.CommandAsync("MAIL FROM:<spam@client.test>");
        Assert.Equal(550, refused.Code);
        Assert.Contains("Go away, " + language, refused.Lines[0]);
        Assert.Equal(250, (await smtp.CommandAsync("RSET")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<friend@client.test>")).Code);
    }

    [Theory]
    [InlineData("out")]
    [InlineData(".")]
    public async Task A_new_plugin_refuses_a_build_output_inside_its_sources(string output)
    {
        var sources = Path.Combine(_root, "plugin-src", "sender-block");
        var (code, text) = await MtaProcess.RunToEndAsync("new", "plugin", "sender-block", "--directory", sources,
            "--output", Path.Combine(sources, output));
        Assert.Equal(2, code);
        Assert.Contains("inside the plugin's sources", text);
        Assert.False(Directory.Exists(sources), "nothing is written when the layout is refused");
    }

    [Fact]
    public async Task A_new_plugin_in_the_other_language_never_joins_an_existing_one_even_with_force()
    {
        var sources = Path.Combine(_root, "plugin-src", "sender-block");
        var output = Path.Combine(_root, "plugins", "sender-block");
        var (first, _) = await MtaProcess.RunToEndAsync("new", "plugin", "sender-block", "--directory", sources, "--output", output);
        Assert.Equal(0, first);

        var (code, text) = await MtaProcess.RunToEndAsync("new", "plugin", "sender-block", "--lang", "fsharp", "--force",
            "--directory", sources, "--output", output);
        Assert.Equal(1, code); // as for any file that exists
        Assert.Contains("holds a C# plugin", text);
        Assert.False(File.Exists(Path.Combine(sources, "sender-block.fsproj")));
    }

    private static async Task<(int ExitCode, string Output)> DotnetAsync(string workingDirectory, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3))) await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
