// sendmail(1) for real: the mta executable called as sendmail and mailq (links), its exit codes, -bs, the maildrop and
// the server's pickup (running, and stopped then started), a non-root submitter whose -f is ignored, Debian's
// bsd-mailx and a cron-like `sendmail -t`, and `mta install` / `mta uninstall` in a private root.
using System.Diagnostics;
using System.Text;
using Mta.Engine.Pickup;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SendmailProcessTests : IAsyncDisposable
{
    private const string Bsdmailx = "/usr/bin/bsd-mailx";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-sendmail-" + Guid.NewGuid().ToString("n")[..12]);
    private readonly string _config;
    private readonly string _links;
    private readonly List<MtaProcess> _servers = [];

    public SendmailProcessTests()
    {
        _config = MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            // Bare local names are qualified with HostName (mta.test): local here, so they are delivered, not relayed.
            ["LocalDomains"] = new[] { "example.test", "localhost", "mta.test" },
            ["Aliases"] = new { Files = new[] { "aliases" } },
            ["Logging"] = new
            {
                LogLevel = new Dictionary<string, string>
                {
                    ["Default"] = "Warning", ["Mta.Engine.Receiver.SmtpServer"] = "Information", ["Mta.Engine.Pickup"] = "Information",
                },
            },
        });
        // Others (nobody) must reach the config and the maildrop through the data directory.
        File.SetUnixFileMode(_data, (UnixFileMode)0b111_101_101);
        _links = Path.Combine(_data, "bin");
        Directory.CreateDirectory(_links);
        foreach (var name in new[] { "sendmail", "mailq", "newaliases" }) File.CreateSymbolicLink(Path.Combine(_links, name), Apphost);
        File.WriteAllText(Aliases, "");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers) await server.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string Apphost => Path.Combine(AppContext.BaseDirectory, "mta");
    private string Sendmail => Path.Combine(_links, "sendmail");
    private string Maildrop => Path.Combine(_data, "maildrop");
    private string Aliases => Path.Combine(_data, "aliases");
    private static bool IsRoot => Environment.UserName == "root";

    private async Task<MtaProcess> StartServerAsync()
    {
        var server = MtaProcess.Start("run", "--config", _config);
        _servers.Add(server);
        await server.WaitForListenerAsync();
        await WaitForAsync(() => server.Output.Contains("pickup: watching maildrop"), "the pickup to start:\n" + server.Output);
        return server;
    }

    private static async Task StopAsync(MtaProcess server)
    {
        server.Interrupt();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }

    private static async Task WaitForAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waited in vain for " + what);
            await Task.Delay(50);
        }
    }

    private string[] Delivered(string mailbox)
    {
        var folder = Path.Combine(_data, "maildir", mailbox, "new");
        return Directory.Exists(folder) ? Directory.GetFiles(folder).Select(File.ReadAllText).ToArray() : [];
    }

    private async Task<string> WaitForDeliveryAsync(string mailbox, MtaProcess? server = null)
    {
        await WaitForAsync(() => Delivered(mailbox).Length > 0, $"mail for {mailbox}" + (server is null ? "" : ":\n" + server.Output));
        return Assert.Single(Delivered(mailbox));
    }

    private string[] WaitingInMaildrop() => Directory.GetFiles(Maildrop);

    /// <summary>Runs a program to its end (bounded): as <c>nobody</c> through setpriv when asked.</summary>
    private async Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> args, string? input = null, bool asNobody = false,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(asNobody ? "setpriv" : program)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = _data,
        };
        if (asNobody)
        {
            foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", program }) psi.ArgumentList.Add(a);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null) await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private Task<(int Code, string Output)> SendmailAsync(string input, bool asNobody, params string[] args) =>
        RunAsync(Sendmail, ["-C", _config, .. args], input, asNobody);

    // As nobody: needs root (setpriv), and the built mta and the .NET runtime where nobody may run them (a checkout
    // under /root is not).
    private async Task SkipUnlessNobodyCanRunMtaAsync()
    {
        if (!IsRoot) Assert.Skip("needs root, to run the submitter as nobody (setpriv) and the server as root");
        var (code, output) = await RunAsync(Apphost, ["--version"], asNobody: true);
        if (code != 0) Assert.Skip($"nobody cannot run {Apphost} (a folder above it or the .NET runtime is closed to others): {output.Trim()}");
    }

    [Fact]
    public async Task With_the_server_running_t_delivers_to_to_cc_and_bcc_and_removes_bcc()
    {
        var server = await StartServerAsync();
        var (code, output) = await SendmailAsync(
            "To: Bob <bob@example.test>,\n  carol@example.test\nCc: group: dave@example.test;\nBcc: eve@example.test\nSubject: hello\n\nbody\n.\nnot sent\n",
            asNobody: false, "-t");
        Assert.True(code == 0, output);
        foreach (var mailbox in new[] { "bob", "carol", "dave", "eve" })
        {
            var message = await WaitForDeliveryAsync(mailbox, server);
            Assert.DoesNotContain("eve@", message.Split("\r\n\r\n")[0].Split("Subject:")[1]);
            Assert.Contains("Subject: hello\r\n", message);
            Assert.Matches("\r\nMessage-Id: <[^>]+@mta.test>\r\n", message);
            Assert.Contains("\r\n\r\nbody\r\n", message);
            Assert.DoesNotContain("not sent", message);
        }
        await WaitForAsync(() => System.Text.RegularExpressions.Regex.IsMatch(server.Output, @"pickup: file=\S+ uid=0 user=root from=<root@mta.test> nrcpt=4 queued as \S+"),
            "the pickup's log line:\n" + server.Output);
        Assert.Empty(WaitingInMaildrop());
    }

    [Fact]
    public async Task With_the_server_stopped_the_message_waits_and_is_delivered_after_start()
    {
        // The server makes the maildrop at its first start.
        await StopAsync(await StartServerAsync());
        var (code, output) = await SendmailAsync("Subject: waiting\n\nbody\n", asNobody: false, "frank@example.test");
        Assert.True(code == 0, output);
        Assert.Single(WaitingInMaildrop());
        Assert.Empty(Delivered("frank"));

        var server = await StartServerAsync();
        Assert.Contains("Subject: waiting", await WaitForDeliveryAsync("frank", server));
        await WaitForAsync(() => WaitingInMaildrop().Length == 0, "the maildrop to empty");
    }

    [Fact]
    public async Task A_recipient_the_server_refuses_is_bounced_to_the_local_sender()
    {
        // Only listed mailboxes: an unknown local part gets 550 5.1.1 in the pickup's session.
        MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            ["LocalDomains"] = new[] { "example.test", "localhost", "mta.test" },
            ["Mailboxes"] = new { AcceptAnyLocalPart = false, SystemUsers = false, Users = new[] { "root", "olivia" } },
            ["Logging"] = new { LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", ["Mta.Engine.Receiver.SmtpServer"] = "Information", ["Mta.Engine.Pickup"] = "Information" } },
        });
        var server = await StartServerAsync();
        var (code, output) = await SendmailAsync("Subject: to nobody known\n\nbody\n", asNobody: false, "olivia@example.test", "nosuchuser@example.test");
        Assert.True(code == 0, output);
        Assert.Contains("Subject: to nobody known", await WaitForDeliveryAsync("olivia", server));
        var bounce = await WaitForDeliveryAsync("root", server);
        Assert.Contains("Final-Recipient: rfc822; nosuchuser@example.test", bounce);
        Assert.Contains("Status: 5.1.1", bounce);
        // The file goes once the bounce is queued, which may be a moment after the bounce is delivered.
        await WaitForAsync(() => WaitingInMaildrop().Length == 0, "the maildrop file to be removed:\n" + server.Output);
    }

    [Fact]
    public async Task The_maildrop_is_mode_1733()
    {
        await StartServerAsync();
        Assert.Equal((UnixFileMode)Convert.ToInt32("1733", 8), File.GetUnixFileMode(Maildrop));
    }

    [Fact]
    public async Task A_non_root_users_f_is_ignored_and_roots_is_honoured()
    {
        await SkipUnlessNobodyCanRunMtaAsync();
        var server = await StartServerAsync();
        var (code, output) = await SendmailAsync("Subject: forged\n\nbody\n", asNobody: true, "-f", "boss@example.org", "grace@example.test");
        Assert.True(code == 0, output);
        var message = await WaitForDeliveryAsync("grace", server);
        Assert.StartsWith("Return-Path: <nobody@mta.test>\r\n", message);
        await WaitForAsync(() => server.Output.Contains("uid=65534 user=nobody from=<nobody@mta.test>"), "the pickup's log line:\n" + server.Output);

        (code, output) = await SendmailAsync("Subject: trusted\n\nbody\n", asNobody: false, "-f", "boss@example.org", "heidi@example.test");
        Assert.True(code == 0, output);
        Assert.StartsWith("Return-Path: <boss@example.org>\r\n", await WaitForDeliveryAsync("heidi", server));
    }

    [Fact]
    public async Task A_cron_like_t_call_as_a_non_root_user_delivers()
    {
        await SkipUnlessNobodyCanRunMtaAsync();
        var server = await StartServerAsync();
        // As cron runs it: `sendmail -t` found by name, a bare local name in To, no From.
        var (code, output) = await RunAsync(Sendmail, ["-C", _config, "-t"], "To: ivan\nSubject: s\n\nbody\n", asNobody: true);
        Assert.True(code == 0, output);
        var message = await WaitForDeliveryAsync("ivan", server);
        Assert.Contains("From: nobody@mta.test\r\n", message);
        Assert.Contains("Return-Path: <nobody@mta.test>", message);
    }

    [Theory]
    [InlineData(64, "recipient addresses must be given", "")]
    [InlineData(64, "no recipient addresses found", "-t")]
    [InlineData(64, "-k: unknown option", "-k", "x@example.test")]
    [InlineData(65, "bad recipient address", "<>")]
    public async Task Usage_and_data_errors_exit_with_sysexits(int expected, string message, params string[] args)
    {
        Directory.CreateDirectory(Maildrop);
        var (code, output) = await SendmailAsync("Subject: x\n\nbody\n", asNobody: false, [.. args.Where(a => a.Length > 0)]);
        Assert.True(code == expected, $"exit {code}: {output}");
        Assert.Contains(message, output);
        Assert.Empty(WaitingInMaildrop());
    }

    [Fact]
    public async Task Without_a_maildrop_sendmail_exits_unavailable()
    {
        var (code, output) = await SendmailAsync("Subject: x\n\nbody\n", asNobody: false, "x@example.test");
        Assert.True(code == 69, $"exit {code}: {output}");
        Assert.Contains("no maildrop at", output);
    }

    [Fact]
    public async Task A_bad_configuration_exits_config()
    {
        var (code, output) = await RunAsync(Sendmail, ["-C", Path.Combine(_data, "missing.json"), "x@example.test"], "x\n");
        Assert.True(code == 78, $"exit {code}: {output}");
        Assert.Contains("file not found", output);
    }

    [Fact]
    public async Task Mailq_and_bp_without_a_server_exit_unavailable_with_a_clear_message()
    {
        var (code, output) = await RunAsync(Path.Combine(_links, "mailq"), ["-C", _config]);
        Assert.True(code == 69, $"exit {code}: {output}");
        Assert.Contains("no running server", output);
        (code, output) = await SendmailAsync("", asNobody: false, "-bp");
        Assert.True(code == 69, $"exit {code}: {output}");
    }

    [Fact]
    public async Task Mailq_and_q_go_through_the_control_socket()
    {
        await StartServerAsync();
        var (code, output) = await RunAsync(Path.Combine(_links, "mailq"), ["-C", _config]);
        Assert.True(code == 0, output);
        Assert.Contains("Mail queue is empty", output);
        (code, output) = await SendmailAsync("", asNobody: false, "-q");
        Assert.True(code == 0, output);
        Assert.Contains("scheduled for delivery now", output);
        // `mta sendmail ...` is the same command.
        var (mtaCode, mtaOutput) = await MtaProcess.RunToEndAsync("sendmail", "-bp", "-C", _config);
        Assert.True(mtaCode == 0, mtaOutput);
        Assert.Contains("Mail queue is empty", mtaOutput);
    }

    [Fact]
    public async Task Newaliases_names_a_bad_line_and_makes_the_running_server_reread_the_aliases()
    {
        File.WriteAllText(Aliases, "staff: alice\nbroken line\n");
        var newaliases = Path.Combine(_links, "newaliases");
        var (code, output) = await RunAsync(newaliases, ["-C", _config]);
        Assert.True(code == 65, $"exit {code}: {output}");
        Assert.Contains($"newaliases: {Aliases}:2: ", output);

        // Without a server the check alone is made.
        File.WriteAllText(Aliases, "staff: alice\n");
        (code, output) = await RunAsync(newaliases, ["-C", _config, "-v"]);
        Assert.True(code == 0, output);
        Assert.Contains("no server running", output);

        var server = await StartServerAsync();
        File.WriteAllText(Aliases, "staff: alice\nteam: bob, carol\n");
        (code, output) = await SendmailAsync("", asNobody: false, "-bi", "-v");
        Assert.True(code == 0, output);
        Assert.Contains("the server re-read", output);
        (code, output) = await SendmailAsync("Subject: to the team\n\nhello\n", asNobody: false, "team@example.test");
        Assert.True(code == 0, output);
        Assert.Contains("Subject: to the team", await WaitForDeliveryAsync("bob", server));
        Assert.Contains("Subject: to the team", await WaitForDeliveryAsync("carol", server));
    }

    [Fact]
    public async Task Bs_speaks_smtp_on_stdin_and_stdout_with_the_server_down()
    {
        PickupService.CreateMaildrop(Maildrop);
        var (code, output) = await SendmailAsync(
            "EHLO client\r\nMAIL FROM:<judy@example.org>\r\nRCPT TO:<kim@example.test>\r\nRCPT TO:<lee@example.test>\r\nDATA\r\nSubject: bs\r\n\r\n..leading dot\r\n.\r\nRSET\r\nNOOP\r\nDATA\r\nBOGUS\r\nQUIT\r\n",
            asNobody: false, "-bs");
        Assert.True(code == 0, output);
        // The last line of each reply (EHLO's has five).
        var replies = output.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Where(l => l.Length == 3 || l[3] == ' ').Select(l => l[..3]).ToArray();
        Assert.Equal(["220", "250", "250", "250", "250", "354", "250", "250", "250", "503", "502", "221"], replies);
        var file = Assert.Single(WaitingInMaildrop());
        Assert.True(MaildropFile.TryParse(File.ReadAllBytes(file), out var envelope, out var message, out var error), error);
        Assert.Equal("judy@example.org", envelope!.Sender);
        Assert.Equal(["kim@example.test", "lee@example.test"], envelope.Recipients);
        var text = Encoding.UTF8.GetString(message.Span);
        Assert.Contains("\r\n\r\n.leading dot\r\n", text);
        Assert.Contains("From: judy@example.org\r\n", text);
    }

    [Fact]
    public async Task A_corrupt_file_or_a_link_moves_to_the_corrupt_folder()
    {
        var server = await StartServerAsync();
        File.WriteAllText(Path.Combine(Maildrop, "garbage"), "not a maildrop file\n\nbody");
        File.CreateSymbolicLink(Path.Combine(Maildrop, "link"), _config);
        var corrupt = Path.Combine(_data, "corrupt");
        await WaitForAsync(() => File.Exists(Path.Combine(corrupt, "garbage.error")) && File.Exists(Path.Combine(corrupt, "link.error")), "the corrupt folder:\n" + server.Output);
        Assert.Contains("not a maildrop file", File.ReadAllText(Path.Combine(corrupt, "garbage.error")));
        Assert.Contains("a symbolic link", File.ReadAllText(Path.Combine(corrupt, "link.error")));
        Assert.Empty(WaitingInMaildrop());
        Assert.Contains("pickup: file=garbage corrupt", server.Output);
    }

    [Fact]
    public async Task Bsd_mailx_delivers_with_the_server_running()
    {
        var server = await StartServerAsync();
        var (code, output) = await MailxAsync("running", "mallory@example.test");
        Assert.True(code == 0, output);
        var message = await WaitForDeliveryAsync("mallory", server);
        Assert.Contains("Subject: running\r\n", message);
        Assert.Contains("sent by mail(1)", message);
    }

    [Fact]
    public async Task Bsd_mailx_delivers_with_the_server_stopped_then_started()
    {
        await StopAsync(await StartServerAsync());
        var (code, output) = await MailxAsync("stopped", "niaj@example.test");
        Assert.True(code == 0, output);
        // mail(1) does not wait for sendmail unless `sendwait` is set: the file comes when sendmail is done.
        await WaitForAsync(() => WaitingInMaildrop().Length == 1, "sendmail's file in the maildrop");
        var server = await StartServerAsync();
        Assert.Contains("Subject: stopped\r\n", await WaitForDeliveryAsync("niaj", server));
    }

    // bsd-mailx honours `set sendmail=PATH` in its MAILRC: our link named sendmail, /usr/sbin/sendmail untouched.
    private async Task<(int Code, string Output)> MailxAsync(string subject, string recipient)
    {
        Assert.True(File.Exists(Bsdmailx), $"{Bsdmailx} is not installed (.ci/run installs bsd-mailx)");
        var mailrc = Path.Combine(_data, "mailrc");
        await File.WriteAllTextAsync(mailrc, $"set sendmail={Sendmail}\n");
        return await RunAsync(Bsdmailx, ["-s", subject, recipient], "sent by mail(1)\n", environment: new Dictionary<string, string>
        {
            ["MAILRC"] = mailrc, ["MTA_CONFIG"] = _config, ["HOME"] = _data,
        });
    }

    [Fact]
    public async Task Install_and_uninstall_divert_and_restore_in_a_private_root()
    {
        var root = Path.Combine(_data, "root");
        Directory.CreateDirectory(Path.Combine(root, "var/lib/dpkg"));
        Directory.CreateDirectory(Path.Combine(root, "usr/sbin"));
        Directory.CreateDirectory(Path.Combine(root, "usr/bin"));
        await File.WriteAllTextAsync(Path.Combine(root, "usr/sbin/sendmail"), "packaged sendmail");
        await File.WriteAllTextAsync(Path.Combine(root, "usr/bin/mailq"), "packaged mailq");

        var (code, output) = await RunAsync(Apphost, ["install", "--root", root]);
        Assert.True(code == 0, output);
        foreach (var path in new[] { "usr/sbin/sendmail", "usr/bin/mailq", "usr/bin/newaliases" })
            Assert.Equal(Apphost, new FileInfo(Path.Combine(root, path)).LinkTarget);
        Assert.Equal("packaged sendmail", await File.ReadAllTextAsync(Path.Combine(root, "usr/sbin/sendmail.mta-orig")));
        Assert.False(File.Exists(Path.Combine(root, "usr/lib/sendmail")));
        Assert.Contains("/usr/sbin/sendmail: diverted to /usr/sbin/sendmail.mta-orig", output);
        Assert.Contains("local diversion of /usr/sbin/sendmail", await File.ReadAllTextAsync(Path.Combine(root, "var/lib/dpkg/diversions")) + output);

        // Twice is harmless.
        (code, output) = await RunAsync(Apphost, ["install", "--root", root]);
        Assert.True(code == 0, output);
        Assert.Contains("already a link", output);

        (code, output) = await RunAsync(Apphost, ["uninstall", "--root", root]);
        Assert.True(code == 0, output);
        Assert.Equal("packaged sendmail", await File.ReadAllTextAsync(Path.Combine(root, "usr/sbin/sendmail")));
        Assert.Equal("packaged mailq", await File.ReadAllTextAsync(Path.Combine(root, "usr/bin/mailq")));
        Assert.False(File.Exists(Path.Combine(root, "usr/bin/newaliases")));
        Assert.Null(new FileInfo(Path.Combine(root, "usr/sbin/sendmail")).LinkTarget);
        Assert.DoesNotContain("sendmail", await File.ReadAllTextAsync(Path.Combine(root, "var/lib/dpkg/diversions")));
    }
}
