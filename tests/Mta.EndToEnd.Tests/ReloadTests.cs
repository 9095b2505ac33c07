// Reload of a real `mta run` process: SIGHUP and `mta reload` apply a new config (local domain, renewed certificate),
// refuse a bad one while the old one serves, and lose no session or message under load.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed partial class ReloadTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-reload-" + Guid.NewGuid().ToString("n")[..12]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The reload lines are Information; the rest of the server stays at Warning as in every process test.
    private static readonly object Logging = new
    {
        LogLevel = new Dictionary<string, string>
        {
            ["Default"] = "Warning",
            ["Mta.Engine.Receiver.SmtpServer"] = "Information",
            ["Mta.Engine.Reload"] = "Information",
        },
    };

    private static readonly object SessionLogging = new
    {
        LogLevel = new Dictionary<string, string>
        {
            ["Default"] = "Warning",
            ["Mta.Engine.Receiver.SmtpServer"] = "Information",
            ["Mta.Engine.Reload"] = "Information",
            ["Mta.Session"] = "Information",
        },
    };

    private string WriteConfig(string[] localDomains, object? tls = null, string hostName = "mta.test", IReadOnlyDictionary<string, object?>? more = null)
    {
        var extra = new Dictionary<string, object?>
        {
            ["HostName"] = hostName,
            ["LocalDomains"] = localDomains,
            ["Logging"] = Logging,
        };
        if (tls is not null) extra["Tls"] = tls;
        foreach (var (key, value) in more ?? new Dictionary<string, object?>()) extra[key] = value;
        return MtaProcess.WriteConfig(_root, extra: extra);
    }

    [Fact]
    public async Task Sighup_keeps_the_server_running_and_accepts_a_new_local_domain()
    {
        var config = WriteConfig(["example.test"]);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        Assert.InRange(await RcptCodeAsync(port, "someone@added.test"), 500, 599);

        Assert.DoesNotContain("[207]", server.Output);

        // Log levels apply at once too: the session's refusal lines (Information) appear from now on.
        WriteConfig(["example.test", "added.test"], more: new Dictionary<string, object?> { ["Logging"] = SessionLogging });
        await HangUpAsync(server, expectedReloads: 1);

        Assert.False(server.HasExited, server.Output);
        Assert.Equal(250, await RcptCodeAsync(port, "someone@added.test"));
        Assert.Equal(250, await RcptCodeAsync(port, "someone@example.test"));
        Assert.InRange(await RcptCodeAsync(port, "someone@elsewhere.test"), 500, 599);
        await WaitForLineAsync(server, RefusalLine(), 1);
    }

    [Fact]
    public async Task Sighup_serves_a_renewed_certificate_to_new_sessions()
    {
        Directory.CreateDirectory(_root);
        // Relative paths: relative to the config file's folder, whatever the server's working directory is.
        var first = WriteCertificate(_root, "first.mta.test");
        var config = WriteConfig(["example.test"], tls: new { CertificateFile = "cert.pem", KeyFile = "key.pem" });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        Assert.Equal(first, await ServedCertificateAsync(port));

        // A session in progress keeps its TLS; the renewed certificate is for sessions that start afterwards.
        await using var during = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(250, (await during.CommandAsync("EHLO during.test")).Code);

        var renewed = WriteCertificate(_root, "renewed.mta.test");
        Assert.NotEqual(first, renewed);
        await HangUpAsync(server, expectedReloads: 1);

        Assert.Equal(renewed, await ServedCertificateAsync(port));
        Assert.Equal(250, (await during.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task A_certificate_that_does_not_load_refuses_the_reload_and_the_old_one_is_served()
    {
        Directory.CreateDirectory(_root);
        var first = WriteCertificate(_root, "first.mta.test");
        var config = WriteConfig(["example.test"], tls: new { CertificateFile = "cert.pem", KeyFile = "key.pem" });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();

        // The file validates (it exists) but does not load; the new local domain in the same file is not applied either.
        await File.WriteAllTextAsync(Path.Combine(_root, "cert.pem"), "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", Ct);
        WriteConfig(["example.test", "added.test"], tls: new { CertificateFile = "cert.pem", KeyFile = "key.pem" });
        SendHangUp(server);
        var refused = await WaitForLineAsync(server, RefusedLine(), 1);
        Assert.Contains("tls certificate: Tls:CertificateFile", refused);

        Assert.Equal(first, await ServedCertificateAsync(port));
        Assert.InRange(await RcptCodeAsync(port, "someone@added.test"), 500, 599);
    }

    [Fact]
    public async Task A_bad_config_is_refused_with_every_error_and_the_old_one_serves()
    {
        var config = WriteConfig(["example.test"]);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();

        // Two problems: both named in the one refusal line.
        WriteConfig(["example.test", "not a domain!"], more: new Dictionary<string, object?> { ["Relay"] = new { TrustedNetworks = new[] { "10.0.0.0/99" } } });
        SendHangUp(server);
        var refused = await WaitForLineAsync(server, RefusedLine(), 1);
        Assert.Contains("LocalDomains:1", refused);
        Assert.Contains("Relay:TrustedNetworks:0", refused);

        Assert.False(server.HasExited, server.Output);
        Assert.Equal(250, await RcptCodeAsync(port, "someone@example.test"));
        Assert.Equal(0, Count(server, ReloadedLine()));
    }

    [Fact]
    public async Task Mta_reload_applies_a_change_and_names_settings_that_need_a_restart()
    {
        var config = WriteConfig(["example.test"]);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();

        WriteConfig(["example.test", "added.test"], hostName: "renamed.mta.test");
        var (code, output) = await MtaProcess.RunToEndAsync("reload", "--config", config);
        Assert.True(code == 0, output + server.Output);
        Assert.Contains("reloaded", output);
        Assert.Contains("LocalDomains", output);
        Assert.Contains("after a restart: HostName", output);
        Assert.Equal(250, await RcptCodeAsync(port, "someone@added.test"));
        Assert.Matches(@"\[1542\].*HostName", server.Output);

        // A bad file: the command exits non-zero with the errors, and the server keeps the configuration it had.
        WriteConfig(["example.test", "-bad-"]);
        (code, output) = await MtaProcess.RunToEndAsync("reload", "--config", config);
        Assert.Equal(1, code);
        Assert.Contains("refused", output);
        Assert.Contains("LocalDomains:1", output);
        Assert.Equal(250, await RcptCodeAsync(port, "someone@added.test"));
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task Mta_reload_applies_mailbox_users_and_trusted_networks_to_new_sessions()
    {
        object Mailboxes(params string[] users) => new { AcceptAnyLocalPart = false, SystemUsers = false, Users = users };
        var config = WriteConfig(["example.test"], more: new Dictionary<string, object?> { ["Mailboxes"] = Mailboxes("alice") });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        Assert.Equal(250, await RcptCodeAsync(port, "alice@example.test"));
        Assert.InRange(await RcptCodeAsync(port, "bob@example.test"), 500, 599);
        Assert.InRange(await RcptCodeAsync(port, "someone@remote.test"), 500, 599);

        WriteConfig(["example.test"], more: new Dictionary<string, object?>
        {
            ["Mailboxes"] = Mailboxes("alice", "bob"),
            ["Relay"] = new { TrustedNetworks = new[] { "127.0.0.0/8" } },
        });
        var (code, output) = await MtaProcess.RunToEndAsync("reload", "--config", config);
        Assert.True(code == 0, output + server.Output);
        Assert.DoesNotContain("restart", output);

        Assert.Equal(250, await RcptCodeAsync(port, "bob@example.test"));
        Assert.Equal(250, await RcptCodeAsync(port, "someone@remote.test"));
    }

    [Fact]
    public async Task Mta_reload_without_a_running_server_exits_3()
    {
        var config = WriteConfig(["example.test"]);
        var (code, output) = await MtaProcess.RunToEndAsync("reload", "--config", config);
        Assert.True(code == 3, output);
    }

    [Fact]
    public async Task Reload_under_load_loses_no_session_and_no_message()
    {
        var config = WriteConfig(["example.test"]);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();

        var acknowledged = new ConcurrentBag<string>();
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 6)
            .Select(i => Task.Run(() => SendUntilStoppedAsync(port, i, acknowledged, failures, stop.Token), Ct)).ToArray();
        const int Reloads = 5;
        for (var reload = 1; reload <= Reloads; reload++)
        {
            // Each reload lands while mail is flowing: wait for some acknowledgements between signals.
            var before = acknowledged.Count;
            await WaitUntilAsync(() => acknowledged.Count >= before + 20 || !failures.IsEmpty, "mail between reloads");
            WriteConfig(["example.test", $"added{reload}.test"]);
            await HangUpAsync(server, expectedReloads: reload);
        }
        stop.Cancel();
        await Task.WhenAll(clients);

        Assert.True(failures.IsEmpty, string.Join("\n", failures) + "\n" + server.Output);
        Assert.True(acknowledged.Count >= Reloads * 20, $"{acknowledged.Count} acknowledged");
        var missing = await WaitUntilDeliveredAsync(acknowledged.ToHashSet());
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged messages not delivered\n{server.Output}");
        Assert.Equal(250, await RcptCodeAsync(port, $"someone@added{Reloads}.test"));
    }

    // One session per client for the whole run: a reload must not end it, and every message in it must be accepted.
    private static async Task SendUntilStoppedAsync(int port, int client, ConcurrentBag<string> acknowledged, ConcurrentQueue<string> failures, CancellationToken stop)
    {
        var n = 0;
        try
        {
            await using var smtp = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await smtp.CommandAsync("EHLO load.test");
            while (!stop.IsCancellationRequested)
            {
                await smtp.SendAsync($"MAIL FROM:<c{client}@sender.test>\r\nRCPT TO:<user{client}@example.test>\r\nDATA\r\n");
                var replies = new[] { await smtp.ReadReplyAsync(), await smtp.ReadReplyAsync(), await smtp.ReadReplyAsync() };
                if (replies[0].Code != 250 || replies[1].Code != 250 || replies[2].Code != 354)
                {
                    failures.Enqueue($"client {client} message {n}: {string.Join(" / ", replies.Select(r => r.ToString()))}");
                    return;
                }
                await smtp.SendAsync($"Subject: reload {client}-{n++}\r\n\r\n{new string('x', 300)}\r\n.\r\n");
                var reply = await smtp.ReadReplyAsync();
                var id = QueuedAs().Match(reply.Text);
                if (reply.Code != 250 || !id.Success)
                {
                    failures.Enqueue($"client {client} message {n}: {reply}");
                    return;
                }
                acknowledged.Add(id.Groups[1].Value);
            }
            Assert.Equal(221, (await smtp.CommandAsync("QUIT")).Code);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            failures.Enqueue($"client {client} lost its session after {n} messages: {ex.Message}");
        }
    }

    private async Task<HashSet<string>> WaitUntilDeliveredAsync(HashSet<string> ids)
    {
        var missing = new HashSet<string>(ids);
        var seenFiles = new HashSet<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var maildir = Path.Combine(_root, "maildir");
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            if (Directory.Exists(maildir))
            {
                foreach (var file in Directory.EnumerateFiles(maildir, "*", SearchOption.AllDirectories))
                {
                    if (!file.Contains($"{Path.DirectorySeparatorChar}new{Path.DirectorySeparatorChar}") || !seenFiles.Add(file)) continue;
                    var match = ReceivedId().Match(await File.ReadAllTextAsync(file, Ct));
                    if (match.Success) missing.Remove(match.Groups[1].Value);
                }
            }
            if (missing.Count > 0) await Task.Delay(100, Ct);
        }
        return missing;
    }

    private static async Task<int> RcptCodeAsync(int port, string recipient)
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(250, (await smtp.CommandAsync("EHLO probe.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<probe@sender.test>")).Code);
        var code = (await smtp.CommandAsync($"RCPT TO:<{recipient}>")).Code;
        await smtp.CommandAsync("QUIT");
        return code;
    }

    // The thumbprint of the certificate a STARTTLS client is shown.
    private static async Task<string> ServedCertificateAsync(int port)
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(250, (await smtp.CommandAsync("EHLO tls.test")).Code);
        Assert.Equal(220, (await smtp.CommandAsync("STARTTLS")).Code);
        string? thumbprint = null;
        await smtp.StartTlsAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "mta.test",
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                thumbprint = certificate is null ? null : new X509Certificate2(certificate).Thumbprint;
                return true;
            },
        }, Ct);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO tls.test")).Code);
        return thumbprint ?? throw new InvalidOperationException("no server certificate");
    }

    // A PEM certificate and key written as a renewal tool would (cert.pem, key.pem); returns the thumbprint.
    private static string WriteCertificate(string folder, string hostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + hostName, key, HashAlgorithmName.SHA256);
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddHours(-1), now.AddDays(30));
        File.WriteAllText(Path.Combine(folder, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(folder, "cert.pem"), certificate.ExportCertificatePem());
        return certificate.Thumbprint;
    }

    private static void SendHangUp(MtaProcess server)
    {
        using var kill = Process.Start("kill", ["-HUP", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    // SIGHUP, then the server's "reloaded" line (the n-th one).
    private static async Task HangUpAsync(MtaProcess server, int expectedReloads)
    {
        SendHangUp(server);
        await WaitForLineAsync(server, ReloadedLine(), expectedReloads);
    }

    private static int Count(MtaProcess server, Regex line) => line.Matches(server.Output).Count;

    private static async Task<string> WaitForLineAsync(MtaProcess server, Regex line, int count)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            var matches = line.Matches(server.Output);
            if (matches.Count >= count) return matches[count - 1].Value;
            if (server.HasExited) throw new InvalidOperationException("the server exited:\n" + server.Output);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no line {line} (#{count}):\n" + server.Output);
            await Task.Delay(50, Ct);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(20, Ct);
        }
    }

    [GeneratedRegex(@"\[1540\][^\n]*reloaded[^\n]*")]
    private static partial Regex ReloadedLine();

    [GeneratedRegex(@"\[1541\][^\n]*refused[^\n]*")]
    private static partial Regex RefusedLine();

    [GeneratedRegex(@"\[207\][^\n]*elsewhere\.test")]
    private static partial Regex RefusalLine();

    [GeneratedRegex(@"queued as (\S+)")]
    private static partial Regex QueuedAs();

    [GeneratedRegex(@"\sid (\S+?)[;\s]")]
    private static partial Regex ReceivedId();

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
