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

    [Fact]
    public async Task A_new_plugin_builds_against_the_installed_contract_and_loads()
    {
        var folder = Path.Combine(_root, "sender-block");
        var (code, output) = await MtaProcess.RunToEndAsync("new", "plugin", "sender-block", "--directory", folder);
        Assert.True(code == 0, output);

        var build = Process.Start(new ProcessStartInfo("dotnet", ["build", folder, "-c", "Release", "-nologo", "-v", "q"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var buildOutput = build.StandardOutput.ReadToEndAsync();
        using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3))) await build.WaitForExitAsync(cts.Token);
        Assert.True(build.ExitCode == 0, await buildOutput);
        var bin = Path.Combine(folder, "bin", "Release", "net10.0");
        Assert.False(File.Exists(Path.Combine(bin, "Mta.Abstractions.dll")), "the contract must not be copied into the plugin");

        await using var server = await MtaTestServer.StartAsync(o =>
        {
            var settings = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Settings:BlockedSenders:0"] = "spam@client.test" })
                .Build().GetSection("Settings");
            o.Plugins["sender-block"] = new PluginOptions { Path = bin, Settings = settings };
        });
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        var refused = await smtp.CommandAsync("MAIL FROM:<spam@client.test>");
        Assert.Equal(550, refused.Code);
        Assert.Equal(250, (await smtp.CommandAsync("RSET")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<friend@client.test>")).Code);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
