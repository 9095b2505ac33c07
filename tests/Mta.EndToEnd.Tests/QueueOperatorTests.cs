// `mta queue` against a real running `mta run`: a deferred message is listed with its error, flushed and then gone.
using System.Text.Json;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class QueueOperatorTests : IAsyncDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-qop-" + Guid.NewGuid().ToString("n")[..10]);

    public ValueTask DisposeAsync()
    {
        MtaTestServer.DeleteQuietly(_data);
        return ValueTask.CompletedTask;
    }

    private string WriteConfig(int peerPort, int dnsPort)
    {
        Directory.CreateDirectory(_data);
        var config = new
        {
            HostName = "mta.test",
            DataDirectory = _data,
            Listeners = new[] { new { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = "None" } },
            LocalDomains = new[] { "example.test" },
            Relay = new
            {
                TrustedNetworks = new[] { "127.0.0.0/8" },
                Routes = new Dictionary<string, object> { ["remote.test"] = new { Host = "[127.0.0.1]", Port = peerPort, Tls = "None" } },
            },
            Dns = new { Servers = new[] { $"127.0.0.1:{dnsPort}" } },
            Scripts = new { Enabled = false },
            ShutdownTimeout = "00:00:10",
            Logging = MtaProcess.ListenerLogging,
        };
        var path = Path.Combine(_data, "mta.config.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    [Fact]
    public async Task List_shows_the_deferred_message_flush_delivers_it_and_delete_removes_one()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.7.1 greylisted" });
        await using var dns = StubDnsServer.Start();
        dns.ServFailUnknownNames = true;
        var config = WriteConfig(peer.Port, dns.EndPoint.Port);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();

        string keep, drop;
        await using (var c = await RawSmtpClient.ConnectAsync(SmtpAssert.Loopback(port)))
        {
            await SmtpAssert.EhloAsync(c);
            keep = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"], "Subject: one\r\n\r\nx\r\n"), 250).Lines[^1]);
            drop = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["carol@remote.test"], "Subject: two\r\n\r\ny\r\n"), 250).Lines[^1]);
        }

        // Both are deferred once the peer has refused them.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string list;
        do
        {
            var (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", config);
            Assert.True(code == 0, output);
            list = output;
            if (list.Split(keep)[^1].Contains("greylisted", StringComparison.Ordinal) && list.Contains(drop, StringComparison.Ordinal)
                && list.Split(drop)[^1].Contains("greylisted", StringComparison.Ordinal))
                break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        } while (DateTime.UtcNow < deadline);
        Assert.Contains(keep, list, StringComparison.Ordinal);
        Assert.Contains("alice@example.test", list, StringComparison.Ordinal);
        Assert.Contains("bob@remote.test", list, StringComparison.Ordinal);
        Assert.Contains("451 4.7.1 greylisted", list, StringComparison.Ordinal);
        Assert.Contains("in 2 messages", list, StringComparison.Ordinal);

        var (deleteCode, deleteOutput) = await MtaProcess.RunToEndAsync("queue", "delete", drop, "--config", config);
        Assert.True(deleteCode == 0, deleteOutput);

        peer.Options.RcptReply = null;
        var (flushCode, flushOutput) = await MtaProcess.RunToEndAsync("queue", "flush", "--domain", "remote.test", "--config", config);
        Assert.True(flushCode == 0, flushOutput);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal(["bob@remote.test"], Assert.Single(peer.Received).Recipients);

        deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            (_, list) = await MtaProcess.RunToEndAsync("queue", "list", "--config", config);
            if (list.Contains("Mail queue is empty", StringComparison.Ordinal)) break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        } while (DateTime.UtcNow < deadline);
        Assert.Contains("Mail queue is empty", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killed_server_keeps_deferred_mail_with_its_schedule_and_error()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "452 4.2.2 mailbox full" });
        await using var dns = StubDnsServer.Start();
        dns.ServFailUnknownNames = true;
        var config = WriteConfig(peer.Port, dns.EndPoint.Port);
        string id;
        string before;
        await using (var server = MtaProcess.Start("run", "--config", config))
        {
            var port = await server.WaitForListenerAsync();
            await using (var c = await RawSmtpClient.ConnectAsync(SmtpAssert.Loopback(port)))
            {
                await SmtpAssert.EhloAsync(c);
                id = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"], "Subject: survive\r\n\r\nx\r\n"), 250).Lines[^1]);
            }
            // Deferred (with its next attempt), not merely active with the error already noted.
            before = await WaitForListAsync(config, l => l.Contains("mailbox full", StringComparison.Ordinal)
                && l.Contains("deferred, 1 attempt, next", StringComparison.Ordinal));
            // SIGKILL: no drain, no flush, nothing written at exit.
            server.Kill();
            await server.WaitForExitAsync(TimeSpan.FromSeconds(20));
        }
        var refusals = peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal));

        await using var again = MtaProcess.Start("run", "--config", config);
        await again.WaitForListenerAsync();
        var after = await WaitForListAsync(config, l => l.Contains(id, StringComparison.Ordinal));
        // Same message, same error, and the next attempt as scheduled before the kill: not retried at start.
        Assert.Contains("452 4.2.2 mailbox full", after, StringComparison.Ordinal);
        Assert.Equal(NextAttemptLine(before), NextAttemptLine(after));
        Assert.Equal(refusals, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));

        peer.Options.RcptReply = null;
        var (code, output) = await MtaProcess.RunToEndAsync("queue", "flush", id, "--config", config);
        Assert.True(code == 0, output);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_held_message_stays_held_across_a_kill_and_a_flush_until_released()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.7.1 greylisted" });
        await using var dns = StubDnsServer.Start();
        dns.ServFailUnknownNames = true;
        var config = WriteConfig(peer.Port, dns.EndPoint.Port);
        string id;
        await using (var server = MtaProcess.Start("run", "--config", config))
        {
            var port = await server.WaitForListenerAsync();
            await using (var c = await RawSmtpClient.ConnectAsync(SmtpAssert.Loopback(port)))
            {
                await SmtpAssert.EhloAsync(c);
                id = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"], "Subject: hold\r\n\r\nx\r\n"), 250).Lines[^1]);
            }
            await WaitForListAsync(config, l => l.Contains("deferred, 1 attempt", StringComparison.Ordinal));

            var (holdCode, holdOutput) = await MtaProcess.RunToEndAsync("queue", "hold", id, "NOSUCHID", "--config", config);
            Assert.Equal(1, holdCode);
            Assert.Contains($"{id}: held 1 recipient", holdOutput, StringComparison.Ordinal);
            Assert.Contains("NOSUCHID: no such message", holdOutput, StringComparison.Ordinal);
            var held = await WaitForListAsync(config, l => l.Contains("held, 1 attempt", StringComparison.Ordinal));
            // mailq's mark of a held message.
            Assert.Contains(id + "!", held, StringComparison.Ordinal);
            Assert.Contains("greylisted", held, StringComparison.Ordinal);
            // SIGKILL: the hold must already be on disk.
            server.Kill();
            await server.WaitForExitAsync(TimeSpan.FromSeconds(20));
        }
        var refusals = peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal));

        peer.Options.RcptReply = null;
        await using var again = MtaProcess.Start("run", "--config", config);
        await again.WaitForListenerAsync();
        var after = await WaitForListAsync(config, l => l.Contains(id, StringComparison.Ordinal));
        Assert.Contains("held, 1 attempt", after, StringComparison.Ordinal);
        Assert.Contains(id + "!", after, StringComparison.Ordinal);

        // A flush leaves it held: nothing is tried.
        var (flushCode, flushOutput) = await MtaProcess.RunToEndAsync("queue", "flush", "--config", config);
        Assert.True(flushCode == 0, flushOutput);
        Assert.Contains("0 recipients", flushOutput, StringComparison.Ordinal);
        Assert.Contains("held, 1 attempt", (await MtaProcess.RunToEndAsync("queue", "list", "--config", config)).Output, StringComparison.Ordinal);
        Assert.Equal(refusals, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
        Assert.Empty(peer.Received);

        var (releaseCode, releaseOutput) = await MtaProcess.RunToEndAsync("queue", "release", id, "--config", config);
        Assert.True(releaseCode == 0, releaseOutput);
        Assert.Contains($"{id}: released 1 recipient", releaseOutput, StringComparison.Ordinal);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal(["bob@remote.test"], Assert.Single(peer.Received).Recipients);
        Assert.Contains("Mail queue is empty", await WaitForListAsync(config, l => l.Contains("Mail queue is empty", StringComparison.Ordinal)),
            StringComparison.Ordinal);
    }

    private static async Task<string> WaitForListAsync(string config, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var (_, list) = await MtaProcess.RunToEndAsync("queue", "list", "--config", config);
            if (done(list) || DateTime.UtcNow > deadline) return list;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    private static string NextAttemptLine(string list) =>
        list.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("bob@remote.test", StringComparison.Ordinal)) ?? "(none)";
}
