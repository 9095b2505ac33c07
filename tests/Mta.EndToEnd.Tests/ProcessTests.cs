// The `mta` executable for real: a SIGKILL mid-traffic loses no acknowledged message; Ctrl-C drains; `mta check`.
using System.Collections.Concurrent;
using System.Net;
using System.Text.RegularExpressions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed partial class ProcessTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-proc-" + Guid.NewGuid().ToString("n")[..12]);

    [Fact]
    public async Task Killing_the_server_mid_traffic_loses_no_acknowledged_message()
    {
        var config = MtaProcess.WriteConfig(_root);
        var acknowledged = new ConcurrentBag<string>();
        await using (var server = MtaProcess.Start("run", "--config", config))
        {
            var port = await server.WaitForListenerAsync();
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, 8).Select(i => Task.Run(() => SendUntilStoppedAsync(port, i, acknowledged, stop.Token))).ToArray();
            // Kill while messages are being accepted and delivered, not at a quiet moment.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (acknowledged.Count < 300 && DateTime.UtcNow < deadline) await Task.Delay(10);
            server.Kill();
            await server.WaitForExitAsync(TimeSpan.FromSeconds(10));
            stop.Cancel();
            await Task.WhenAll(clients);
        }
        Assert.True(acknowledged.Count >= 300, $"only {acknowledged.Count} messages acknowledged before the kill");

        await using (var restarted = MtaProcess.Start("run", "--config", config))
        {
            await restarted.WaitForListenerAsync();
            var missing = await WaitUntilDeliveredAsync(acknowledged.ToHashSet(), TimeSpan.FromSeconds(60));
            Assert.True(missing.Count == 0,
                $"{missing.Count} of {acknowledged.Count} acknowledged messages lost, e.g. {string.Join(", ", missing.Take(5))}\n{restarted.Output}");
        }
    }

    private static async Task SendUntilStoppedAsync(int port, int client, ConcurrentBag<string> acknowledged, CancellationToken stop)
    {
        var n = 0;
        try
        {
            await using var smtp = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await smtp.CommandAsync("EHLO crash.test");
            while (!stop.IsCancellationRequested)
            {
                var user = $"user{client}";
                await smtp.SendAsync($"MAIL FROM:<c{client}@sender.test>\r\nRCPT TO:<{user}@example.test>\r\nDATA\r\n");
                if ((await smtp.ReadReplyAsync()).Code != 250 || (await smtp.ReadReplyAsync()).Code != 250 || (await smtp.ReadReplyAsync()).Code != 354)
                    return;
                await smtp.SendAsync($"Subject: crash {client}-{n++}\r\n\r\n{new string('x', 500)}\r\n.\r\n");
                var reply = await smtp.ReadReplyAsync();
                var id = QueuedAs().Match(reply.Text);
                if (reply.Code == 250 && id.Success) acknowledged.Add(id.Groups[1].Value);
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The kill cuts the connection; whatever was acknowledged before that must survive.
        }
    }

    private async Task<HashSet<string>> WaitUntilDeliveredAsync(HashSet<string> ids, TimeSpan timeout)
    {
        var missing = new HashSet<string>(ids);
        var seenFiles = new HashSet<string>();
        var deadline = DateTime.UtcNow + timeout;
        var maildir = Path.Combine(_root, "maildir");
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            if (Directory.Exists(maildir))
            {
                foreach (var file in Directory.EnumerateFiles(maildir, "*", SearchOption.AllDirectories))
                {
                    if (!file.Contains($"{Path.DirectorySeparatorChar}new{Path.DirectorySeparatorChar}") || !seenFiles.Add(file)) continue;
                    var match = ReceivedId().Match(await File.ReadAllTextAsync(file));
                    if (match.Success) missing.Remove(match.Groups[1].Value);
                }
            }
            if (missing.Count > 0) await Task.Delay(100);
        }
        return missing;
    }

    [Fact]
    public async Task Ctrl_C_tells_idle_clients_421_and_exits_cleanly()
    {
        var config = MtaProcess.WriteConfig(_root);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        await using var idle = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(250, (await idle.CommandAsync("EHLO idle.test")).Code);

        server.Interrupt();

        var reply = await idle.ReadReplyAsync();
        Assert.Equal(421, reply.Code);
        Assert.StartsWith("4.3.2", reply.Lines[0]);
        await server.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public async Task Check_accepts_the_embedded_default()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", Path.Combine(AppContext.BaseDirectory, "mta.config.json"));
        Assert.True(code == 0, output);
        Assert.Contains("configuration OK", output);
    }

    [Theory]
    [InlineData("\"Port\": 70000", "Listeners:0:Port")]
    [InlineData("\"Port\": \"abc\"", "Listeners:0:Port")]
    [InlineData("\"Port\": 2525, \"Colour\": \"blue\"", "Colour")]
    public async Task Check_names_the_bad_key(string listenerFragment, string expectedKey)
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "bad.json");
        await File.WriteAllTextAsync(path, $$"""
            { "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", {{listenerFragment}} } ] }
            """);
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", path);
        Assert.Equal(2, code);
        Assert.Contains(expectedKey, output);
    }

    [Fact]
    public async Task Run_refuses_to_start_with_a_bad_value_and_names_it()
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "bad.json");
        await File.WriteAllTextAsync(path, """
            { "Listeners": [ { "Address": "127.0.0.1", "Port": 2525 } ], "Limits": { "MaxRecipients": 5 } }
            """);
        var (code, output) = await MtaProcess.RunToEndAsync("run", "--config", path);
        Assert.NotEqual(0, code);
        Assert.Contains("Limits:MaxRecipients", output);
    }

    [GeneratedRegex(@"queued as (\S+)")]
    private static partial Regex QueuedAs();

    [GeneratedRegex(@"\sid (\S+?)[;\s]")]
    private static partial Regex ReceivedId();

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
