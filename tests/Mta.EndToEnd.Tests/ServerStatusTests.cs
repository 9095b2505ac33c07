// IServerStatus inside a running engine: it counts this server's traffic from its instruments (not another server's in
// the same process), and its samples carry the queue and connection levels the console's overview draws.
using Microsoft.Extensions.DependencyInjection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Status;

namespace Mta.EndToEnd.Tests;

public sealed class ServerStatusTests
{
    private static async Task SendAsync(MtaTestServer server, int messages)
    {
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(c);
        for (var i = 0; i < messages; i++)
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", [$"user{i}@example.test"], $"Subject: {i}\r\n\r\nx\r\n"), 250);
    }

    [Fact]
    public async Task Two_servers_in_one_process_count_only_their_own_traffic()
    {
        await using var a = await MtaTestServer.StartAsync();
        await using var b = await MtaTestServer.StartAsync();
        await SendAsync(a, 3);
        await SendAsync(b, 1);
        for (var i = 0; i < 3; i++) await a.WaitForMailAsync($"user{i}");
        await b.WaitForMailAsync("user0");

        var statusA = a.Services.GetRequiredService<IServerStatus>();
        var statusB = b.Services.GetRequiredService<IServerStatus>();
        // Bounded: the delivery is counted when its outcome is journaled, just after the Maildir file appears.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((statusA.Snapshot().LastMinute.Delivered < 3 || statusB.Snapshot().LastMinute.Delivered < 1) && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);

        var snapshotA = statusA.Snapshot();
        Assert.True(snapshotA.LastMinute.Window < TimeSpan.FromMinutes(1), "the counts since start are exact only within the first minute");
        Assert.Equal(new ActivityRates(1, 3, 0, 3, 0, 0, snapshotA.LastMinute.Window), snapshotA.LastMinute);
        var snapshotB = statusB.Snapshot();
        Assert.Equal(new ActivityRates(1, 1, 0, 1, 0, 0, snapshotB.LastMinute.Window), snapshotB.LastMinute);
        Assert.Equal($"127.0.0.1:{a.Port}", Assert.Single(snapshotA.Listeners).EndPoint);
        Assert.Equal(0, snapshotA.Queue.Recipients);
        Assert.Null(snapshotA.Queue.OldestAge);
    }

    [Fact]
    public async Task A_sample_holds_the_servers_levels_and_counts()
    {
        await using var server = await MtaTestServer.StartAsync();
        var status = server.Services.GetRequiredService<ServerStatus>();
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: s\r\n\r\nx\r\n"), 250);
        await server.WaitForMailAsync("bob");

        // The connection stays open: the sample sees it as a level, and every count since the last sample. Bounded: the
        // recipient leaves the pending count just after its outcome is counted.
        ActivitySample sample;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            sample = status.TakeSample();
            if (sample.QueuePending == 0 && status.History(TimeSpan.FromHours(1)).Sum(s => s.Delivered) >= 1) break;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        } while (DateTime.UtcNow < deadline);

        var history = status.History(TimeSpan.FromHours(1));
        Assert.Equal(sample, history[^1]);
        Assert.Equal(1, history.Sum(s => s.Accepted));
        Assert.Equal(1, history.Sum(s => s.Delivered));
        Assert.Equal(1, sample.ConnectionsOpen);
        Assert.Equal(0, sample.QueuePending);
    }
}
