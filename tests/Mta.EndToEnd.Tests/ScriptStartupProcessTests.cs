// `mta run` with a script whose top-level code never returns: start-up stops with an error naming the script once the
// load timeout passes, and SIGTERM stops the process while it waits.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ScriptStartupProcessTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-stuck-" + Guid.NewGuid().ToString("n")[..12]);

    // The bound on waiting for the process, far above any timeout configured here.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private string WriteConfig(string loadTimeout, string script)
    {
        var scripts = Path.Combine(_root, "scripts");
        Directory.CreateDirectory(scripts);
        File.WriteAllText(Path.Combine(scripts, "10-stuck.csx"), script);
        return MtaProcess.WriteConfig(_root, extra: new Dictionary<string, object?>
        {
            ["Scripts"] = new { Directory = scripts, LoadTimeout = loadTimeout, Cache = false, Watch = false },
        });
    }

    [Fact]
    public async Task Start_up_stops_with_an_error_naming_the_script_when_its_top_level_code_never_returns()
    {
        var config = WriteConfig("00:00:01", "while (true) { }\n");

        await using var server = MtaProcess.Start("run", "--config", config);
        await server.WaitForExitAsync(Bound);

        Assert.True(server.ExitCode == 1, server.Output);
        Assert.Contains("10-stuck.csx", server.Output);
        Assert.Contains("did not finish within 1 s", server.Output);
        Assert.DoesNotContain("] listener smtp on", server.Output);
    }

    [Fact]
    public async Task SIGTERM_stops_the_server_while_a_script_s_top_level_code_runs()
    {
        var started = Path.Combine(_root, "top-level-started");
        // Tells the test that the load is under way (so the signal arrives while it runs), then never returns.
        var config = WriteConfig("00:10:00", $"File.WriteAllText(@\"{started}\", \"\");\nwhile (true) {{ }}\n");

        await using var server = MtaProcess.Start("run", "--config", config);
        var deadline = DateTime.UtcNow + Bound;
        while (!File.Exists(started))
        {
            Assert.False(server.HasExited, server.Output);
            Assert.True(DateTime.UtcNow < deadline, "the script's top-level code did not start:\n" + server.Output);
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        server.Terminate();
        await server.WaitForExitAsync(Bound);

        Assert.True(server.HasExited);
        Assert.DoesNotContain("Unhandled exception", server.Output);
        Assert.DoesNotContain("] listener smtp on", server.Output);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
