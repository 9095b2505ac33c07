// The recent-deliveries ring: newest first, bounded, one record per recipient attempt, fed by the journal.
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Queue;
using Mta.Engine.Status;
using Mta.Engine.Tests.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Status;

public sealed class RecentDeliveriesTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static DeliveryRecord Record(int n) =>
        new(DateTimeOffset.UnixEpoch.AddSeconds(n), "Q" + n, $"u{n}@x.test", "delivered", "remote", "x.test", "250 ok", TimeSpan.FromMilliseconds(n));

    [Fact]
    public void The_ring_gives_the_newest_first_and_forgets_the_oldest()
    {
        var ring = new RecentDeliveries(capacity: 4);
        Assert.Empty(ring.Recent(10));
        ring.Add(Record(1));
        ring.Add(Record(2));
        Assert.Equal(["Q2", "Q1"], ring.Recent(10).Select(r => r.QueueId));
        for (var i = 3; i <= 9; i++) ring.Add(Record(i));
        Assert.Equal(["Q9", "Q8", "Q7", "Q6"], ring.Recent(10).Select(r => r.QueueId));
        Assert.Equal(["Q9", "Q8"], ring.Recent(2).Select(r => r.QueueId));
        Assert.Empty(ring.Recent(0));
    }

    [Fact]
    public async Task Concurrent_writers_lose_nothing_within_the_capacity()
    {
        var ring = new RecentDeliveries(capacity: 1000);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < 250; i++) ring.Add(Record(w * 1000 + i));
        }, TestContext.Current.CancellationToken)));
        var all = ring.Recent(2000);
        Assert.Equal(1000, all.Count);
        Assert.Equal(1000, all.Select(r => r.QueueId).Distinct().Count());
        // Each writer's own records come newest first.
        foreach (var w in Enumerable.Range(0, 4))
        {
            var mine = all.Where(r => r.At >= DateTimeOffset.UnixEpoch.AddSeconds(w * 1000) && r.At < DateTimeOffset.UnixEpoch.AddSeconds(w * 1000 + 1000)).ToArray();
            Assert.Equal(mine.OrderByDescending(r => r.At), mine);
        }
    }

    [Fact]
    public async Task The_journal_records_each_recipient_attempt_with_its_outcome_route_and_destination()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var envelope = await q.SubmitAsync(SpoolTestData.Message("recent"), "alice@example.org", "far@remote.test");
        var recent = q.Services.GetRequiredService<IRecentDeliveries>().Recent(10);

        var alice = Assert.Single(recent, r => r.Recipient == "alice@example.org");
        Assert.Equal((envelope.QueueId, "delivered", "mailbox", "mailbox:alice"), (alice.QueueId, alice.Outcome, alice.RouteKind, alice.Destination));
        Assert.Equal(q.Time.GetUtcNow(), alice.At);
        var far = Assert.Single(recent, r => r.Recipient == "far@remote.test");
        Assert.Equal(("deferred", "remote", "remote.test"), (far.Outcome, far.RouteKind, far.Destination));
        Assert.Contains("4.4.3", far.Reply, StringComparison.Ordinal);
        Assert.True(far.Duration >= TimeSpan.Zero);
    }
}
