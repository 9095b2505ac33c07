// `mta terminal` as a process against a real `mta run`: a SEND reaches it sanitised with a bell, Ctrl-C exits 0, refusals exit 1,
// no server exits 3, and a server that stops ends it with 3.
using System.Diagnostics;
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class TerminalCommandTests : IAsyncDisposable
{
    private const string AliceToken = "alice-token-0123456789";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-term-" + Guid.NewGuid().ToString("n")[..12]);
    private int _port; // the listener's, once the server has bound it
    private readonly List<MtaProcess> _processes = [];

    // The mailbox user of whoever runs the tests (root in CI): `mta terminal` without USER attaches as it.
    private static string Me => Environment.UserName.ToLowerInvariant();

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes) await process.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private string Config(bool enabled = true) => MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
    {
        ["Terminal"] = new { Enabled = enabled, Tokens = new Dictionary<string, string> { ["alice"] = AliceToken } },
        ["Scripts"] = new { Enabled = false },
    });

    private MtaProcess Start(params string[] args)
    {
        var process = MtaProcess.Start(args);
        _processes.Add(process);
        return process;
    }

    private async Task<(MtaProcess Server, string Config)> StartServerAsync(bool enabled = true)
    {
        var config = Config(enabled);
        var server = Start("run", "--config", config);
        _port = await server.WaitForListenerAsync();
        // The control socket is bound before the listeners start; wait for it all the same (a slow start).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(Path.Combine(_data, "control.sock")) && DateTime.UtcNow < deadline) await Task.Delay(20);
        return (server, config);
    }

    private static async Task WaitForOutputAsync(MtaProcess process, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!process.Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited) Assert.Fail($"mta exited ({process.ExitCode}) before printing '{text}':\n{process.Output}");
            if (DateTime.UtcNow > deadline) Assert.Fail($"no '{text}' within 30 s:\n{process.Output}");
            await Task.Delay(20);
        }
    }

    private async Task SendAsync(string user, string data)
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, _port));
        var ehlo = await smtp.CommandAsync("EHLO client.test");
        Assert.Contains("SEND", ehlo.Lines);
        Assert.Equal(250, (await smtp.CommandAsync("SEND FROM:<bob@example.test>")).Code);
        var rcpt = await smtp.CommandAsync($"RCPT TO:<{user}@example.test>");
        Assert.True(rcpt.Code == 250, rcpt.ToString());
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        await smtp.SendAsync(data.ReplaceLineEndings("\r\n") + "\r\n.\r\n");
        var queued = await smtp.ReadReplyAsync();
        Assert.True(queued.Code == 250, queued.ToString());
        await smtp.CommandAsync("QUIT");
    }

    [Fact]
    public async Task A_SEND_reaches_the_attached_terminal_sanitised_with_a_bell_and_ctrl_c_exits_0()
    {
        var (_, config) = await StartServerAsync();
        var terminal = Start("terminal", "--config", config);
        await WaitForOutputAsync(terminal, $"Waiting for terminal messages for {Me} (Ctrl-C to stop)");

        // Escape sequences in the subject (encoded) and the body: a title change, colours.
        await SendAsync(Me, """
            From: Bob <bob@example.test>
            Subject: =?utf-8?q?lunch=1B[2J_now=3F?=
            Content-Type: text/plain; charset=utf-8

            Are you coming down? {ESC}]0;pwned{BEL}
            Second line {ESC}[31mred{ESC}[0m here.
            """.Replace("{ESC}", "\u001b").Replace("{BEL}", "\u0007"));
        await WaitForOutputAsync(terminal, "Second line red here.");

        terminal.Interrupt();
        await terminal.WaitForExitAsync(TimeSpan.FromSeconds(15));
        Assert.True(terminal.ExitCode == 0, $"exit {terminal.ExitCode}: {terminal.Output}");
        var lines = terminal.Output.Replace("\r", "").Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("Message from ", StringComparison.Ordinal));
        Assert.True(header > 0, terminal.Output);
        Assert.Matches(@"^Message from bob@example\.test at \d\d:\d\d \(subject: lunch now\?\)$", lines[header]);
        Assert.Equal("Are you coming down?", lines[header + 1].TrimEnd());
        Assert.Equal("Second line red here.", lines[header + 2]);
        Assert.Equal("\a", lines[header + 3]);
        Assert.DoesNotContain('\u001b', terminal.Output);
    }

    [Fact]
    public async Task When_the_server_stops_the_terminal_says_so_and_exits_3()
    {
        var (server, config) = await StartServerAsync();
        var terminal = Start("terminal", Me, "--config", config);
        await WaitForOutputAsync(terminal, "Waiting for terminal messages");
        server.Interrupt();
        await terminal.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(terminal.ExitCode == 3, $"exit {terminal.ExitCode}: {terminal.Output}");
        Assert.Contains("mta: the server is stopping", terminal.Output);
    }

    [Fact]
    public async Task A_token_attaches_as_its_user_and_a_wrong_one_is_refused_with_exit_1()
    {
        var (_, config) = await StartServerAsync();
        var (code, output) = await MtaProcess.RunToEndAsync("terminal", "alice", "--token", "this-is-not-the-token", "--config", config);
        Assert.True(code == 1, $"exit {code}: {output}");
        Assert.Equal("mta: the token is not valid for alice", output.Trim());

        var terminal = Start("terminal", "alice", "--token", AliceToken, "--config", config);
        await WaitForOutputAsync(terminal, "Waiting for terminal messages for alice (Ctrl-C to stop)");
        await SendAsync("alice", "Subject: hi\n\nA note only alice sees.");
        await WaitForOutputAsync(terminal, "A note only alice sees.");
        Assert.Contains("Message from bob@example.test at ", terminal.Output);
    }

    [Fact]
    public async Task A_server_with_terminal_delivery_off_refuses_with_exit_1()
    {
        var (_, config) = await StartServerAsync(enabled: false);
        var (code, output) = await MtaProcess.RunToEndAsync("terminal", "--config", config);
        Assert.True(code == 1, $"exit {code}: {output}");
        Assert.Equal("mta: terminal delivery is off on this server (Terminal:Enabled is false)", output.Trim());
    }

    [Fact]
    public async Task Without_a_running_server_it_exits_3_with_the_message_mta_queue_gives()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("terminal", "--config", Config());
        Assert.True(code == 3, $"exit {code}: {output}");
        Assert.Equal($"mta: no running server (no control socket at {Path.Combine(_data, "control.sock")}); start it with 'mta run'", output.Trim());
    }

    [Fact]
    public async Task Bad_usage_exits_2()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("terminal", "a", "b", "--config", Config());
        Assert.True(code == 2, $"exit {code}: {output}");
        (code, output) = await MtaProcess.RunToEndAsync("terminal", "--config", Path.Combine(_data, "missing.json"));
        Assert.True(code == 2, $"exit {code}: {output}");
        Assert.Contains("file not found", output);
    }

    [Fact]
    public async Task Another_local_user_may_not_attach_as_root()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.UserName == "root" && File.Exists("/usr/bin/setpriv"),
            "needs Linux, root (to run the client as nobody) and setpriv");
        if (!OperatingSystem.IsLinux()) return;
        var (_, config) = await StartServerAsync();
        // The data folder and the config must be reachable by nobody (the socket itself is 0666).
        File.SetUnixFileMode(_data, File.GetUnixFileMode(_data) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
        File.SetUnixFileMode(config, File.GetUnixFileMode(config) | UnixFileMode.OtherRead);

        var psi = new ProcessStartInfo("/usr/bin/setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", MtaProcess.MtaDll, "terminal", "root", "--config", config })
            psi.ArgumentList.Add(a);
        // nobody's home does not exist; the runtime needs a writable one for nothing here but asks all the same.
        psi.Environment["HOME"] = Path.GetTempPath();
        psi.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
        Assert.True(process.ExitCode == 1, $"exit {process.ExitCode}: {output}");
        Assert.Matches(@"^mta: \S+ may not attach as root: only root may attach as another user; or use --token$", output.Trim());
    }
}
