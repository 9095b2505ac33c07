// A real third-party client (swaks) talks to the server: plain and pipelined sessions deliver.
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class InteropTests
{
    private static string? FindSwaks()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, "swaks");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("swaks did not finish in 30 s: " + await stdout);
        }
        return (p.ExitCode, await stdout + await stderr);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Swaks_delivers(bool pipeline)
    {
        var swaks = FindSwaks();
        if (swaks is null) Assert.Skip("swaks not installed");
        await using var server = await MtaTestServer.StartAsync();
        var subject = pipeline ? "swaks pipelined" : "swaks plain";
        var args = new List<string>
        {
            "--server", $"127.0.0.1:{server.Port}", "--from", "a@x.test", "--to", "alice@example.test",
            "--helo", "swaks.test", "--header", "Subject: " + subject, "--body", "Hello from swaks\n.leading dot line\nend",
            "--timeout", "20",
        };
        if (pipeline) args.Add("--pipeline");
        var (code, output) = await RunAsync(swaks, args.ToArray());
        Assert.True(code == 0, $"swaks exit {code}:\n{output}");
        Assert.Contains("queued as", output);
        if (pipeline) Assert.Contains("PIPELINING", output);
        var text = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        Assert.Contains("Subject: " + subject, text);
        Assert.Contains("\r\n.leading dot line\r\n", text);
        Assert.Contains("Received: from swaks.test", text);
    }
}
