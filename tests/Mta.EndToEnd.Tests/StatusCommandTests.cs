// `mta status` against a real running `mta run`: mail deferred by a tempfailing next hop shows in the queue counts, the
// qshape row of its domain and the last-minute rates; the listener shows as bound. Without a server it exits 3 as `mta queue` does.
using System.Text.Json;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class StatusCommandTests : IAsyncDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-status-" + Guid.NewGuid().ToString("n")[..10]);

    public ValueTask DisposeAsync()
    {
        MtaTestServer.DeleteQuietly(_data);
        return ValueTask.CompletedTask;
    }

    private string WriteConfig(int peerPort) => MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
    {
        ["Listeners"] = new[] { new { Name = "inbound", Address = "127.0.0.1", Port = 0, Tls = "None" } },
        ["Relay"] = new
        {
            TrustedNetworks = new[] { "127.0.0.0/8" },
            Routes = new Dictionary<string, object> { ["remote.test"] = new { Host = "[127.0.0.1]", Port = peerPort, Tls = "None" } },
        },
        ["Scripts"] = new { Enabled = false },
    });

    [Theory]
    [InlineData]
    [InlineData("--json")]
    public async Task Without_a_running_server_it_exits_3_with_a_clear_message(params string[] args)
    {
        var config = MtaProcess.WriteConfig(_data);
        var (code, output) = await MtaProcess.RunToEndAsync(["status", .. args, "--config", config]);
        Assert.True(code == 3, $"exit {code}: {output}");
        Assert.Equal($"mta: no running server (no control socket at {Path.Combine(_data, "control.sock")}); start it with 'mta run'", output.Trim());
    }

    [Theory]
    [InlineData("--top", "-1")]
    [InlineData("--frobnicate")]
    [InlineData("extra")]
    public async Task Bad_usage_exits_2(params string[] args)
    {
        var config = MtaProcess.WriteConfig(_data);
        var (code, output) = await MtaProcess.RunToEndAsync(["status", .. args, "--config", config]);
        Assert.True(code == 2, $"exit {code}: {output}");
    }

    [Fact]
    public async Task Status_shows_deferred_mail_by_state_and_in_the_qshape_row_of_its_domain()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.7.1 greylisted" });
        var config = WriteConfig(peer.Port);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync("inbound");

        // Three recipients at the tempfailing domain over two messages, and one local recipient that is delivered.
        string first;
        await using (var c = await RawSmtpClient.ConnectAsync(SmtpAssert.Loopback(port)))
        {
            await SmtpAssert.EhloAsync(c);
            first = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test", "carol@remote.test"], "Subject: one\r\n\r\nx\r\n"), 250).Lines[^1]);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["dave@remote.test"], "Subject: two\r\n\r\ny\r\n"), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@remote.test", ["erin@example.test"], "Subject: three\r\n\r\nz\r\n"), 250);
        }

        // Bounded: until the peer's 451 has made all three deferred (and the local one is gone from the queue).
        JsonElement status = default;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            var (code, output) = await MtaProcess.RunToEndAsync("status", "--json", "--config", config);
            Assert.True(code == 0, output);
            status = JsonDocument.Parse(output).RootElement.Clone();
            var queue = status.GetProperty("queue");
            if (queue.GetProperty("deferred").GetInt64() == 3 && queue.GetProperty("recipients").GetInt64() == 3
                && status.GetProperty("lastMinute").GetProperty("delivered").GetDouble() >= 1) break;
            await Task.Delay(200, TestContext.Current.CancellationToken);
        } while (DateTime.UtcNow < deadline);

        Assert.Equal("mta.test", status.GetProperty("hostName").GetString());
        var listener = Assert.Single(status.GetProperty("listeners").EnumerateArray().ToArray());
        Assert.Equal("inbound", listener.GetProperty("name").GetString());
        Assert.Equal($"127.0.0.1:{port}", listener.GetProperty("endPoint").GetString());
        Assert.Equal("smtp", listener.GetProperty("role").GetString());
        Assert.Equal("none", listener.GetProperty("tls").GetString());

        var q = status.GetProperty("queue");
        Assert.Equal(2, q.GetProperty("messages").GetInt64());
        Assert.Equal(3, q.GetProperty("recipients").GetInt64());
        Assert.Equal(3, q.GetProperty("deferred").GetInt64());
        Assert.Equal(0, q.GetProperty("ready").GetInt64());
        Assert.Equal(0, q.GetProperty("active").GetInt64());
        Assert.True(TimeSpan.Parse(q.GetProperty("oldestAge").GetString()!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(5));

        var shape = status.GetProperty("shape");
        Assert.Equal([5, 10, 20, 40, 80, 160, 320, 640, 1280], shape.GetProperty("bucketMinutes").EnumerateArray().Select(e => e.GetInt32()));
        var row = Assert.Single(shape.GetProperty("domains").EnumerateArray().ToArray());
        Assert.Equal("remote.test", row.GetProperty("domain").GetString());
        Assert.Equal(3, row.GetProperty("total").GetInt64());
        Assert.Equal([3L, 0, 0, 0, 0, 0, 0, 0, 0, 0], row.GetProperty("buckets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(3, shape.GetProperty("total").GetProperty("total").GetInt64());

        // The rates come from the server's instruments: three transactions and one connection in the last minute, the
        // local delivery, and at least the first attempt at each of the three tempfailed recipients.
        var rates = status.GetProperty("lastMinute");
        Assert.Equal(3, rates.GetProperty("accepted").GetDouble());
        Assert.Equal(0, rates.GetProperty("rejected").GetDouble());
        Assert.Equal(1, rates.GetProperty("connections").GetDouble());
        Assert.Equal(1, rates.GetProperty("delivered").GetDouble());
        Assert.True(rates.GetProperty("deferred").GetDouble() >= 3, rates.ToString());
        Assert.Equal(0, rates.GetProperty("failed").GetDouble());

        // The screen: the same figures where an operator looks for them.
        var (screenCode, screen) = await MtaProcess.RunToEndAsync("status", "--config", config);
        Assert.True(screenCode == 0, screen);
        var lines = screen.Replace("\r", "").Split('\n');
        Assert.StartsWith("mta.test: Mta ", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("Listeners:", StringComparison.Ordinal) && l.Contains($"inbound  127.0.0.1:{port}  smtp", StringComparison.Ordinal)
                                    && l.EndsWith("tls none", StringComparison.Ordinal));
        Assert.Contains("Queue:        0 ready, 0 active, 3 deferred, 0 held (3 recipients in 2 messages)", lines);
        Assert.Contains(lines, l => l.StartsWith("Last minute:  1 connection, 3 accepted, 0 rejected | 1 delivered,", StringComparison.Ordinal));
        var header = Array.FindIndex(lines, l => l.StartsWith("Queue shape:", StringComparison.Ordinal));
        Assert.True(header > 0, screen);
        Assert.Equal(["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"], Fields(lines[header + 1]));
        Assert.Equal(["TOTAL", "3", "3", "0", "0", "0", "0", "0", "0", "0", "0", "0"], Fields(lines[header + 2]));
        Assert.Equal(["remote.test", "3", "3", "0", "0", "0", "0", "0", "0", "0", "0", "0"], Fields(lines[header + 3]));
        // Right-aligned as qshape's: the last column ends on the same character in every row.
        Assert.Equal(lines[header + 1].Length, lines[header + 3].Length);

        // Held by the operator: counted apart from deferred, still in the domain's row.
        var (holdCode, holdOutput) = await MtaProcess.RunToEndAsync("queue", "hold", first, "--config", config);
        Assert.True(holdCode == 0, holdOutput);
        var (heldCode, held) = await MtaProcess.RunToEndAsync("status", "--config", config);
        Assert.True(heldCode == 0, held);
        Assert.Contains("Queue:        0 ready, 0 active, 1 deferred, 2 held (3 recipients in 2 messages)", held.Replace("\r", "").Split('\n'));
        Assert.Contains(held.Replace("\r", "").Split('\n'), l => Fields(l) is ["remote.test", "3", ..]);
    }

    private static string[] Fields(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
