// Flush for one domain (ETRN, mta queue flush --domain): releases that domain's recipients and closes its destinations' circuits, no others.
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Tests.Spool;
using Mta.Testing;

namespace Mta.Engine.Tests.Queue;

public sealed class QueueFlushTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] Body = SpoolTestData.Message("held");

    [Fact]
    public async Task Flush_of_one_held_domain_leaves_another_held_domain_of_the_same_retry_item_held()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var q = new QueueHarness(_dir.Path, configure: o =>
        {
            foreach (var domain in new[] { "one.test", "two.test" })
                o.Relay.Routes[domain] = new() { Host = "[127.0.0.1]", Port = routeHost.Port, Tls = OutboundTlsPolicy.None, Hold = true };
        });
        await q.StartAsync();
        // Both held in one pass at one instant of the fake clock: one retry work item holds both recipients.
        await q.SubmitAsync(Body, "bob@one.test", "carol@two.test");
        Assert.Equal(1, q.Manager.ScheduledRetries);

        var released = q.Administration.Flush(domain: "one.test");
        await q.IdleAsync();

        await routeHost.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal(["bob@one.test"], Assert.Single(routeHost.Received).Recipients);
        Assert.Equal(1, released);
        var carol = Assert.Single(Assert.Single(q.Administration.List()).Recipients, r => r.State != QueueRecipientState.Delivered);
        Assert.Equal(("carol@two.test", QueueRecipientState.Deferred, 1), (carol.Address, carol.State, carol.Attempts));
        Assert.Contains("held for", carol.LastError, StringComparison.Ordinal);
        Assert.Equal(1, q.Manager.ScheduledRetries);

        // The other domain's own flush still finds it.
        Assert.Equal(1, q.Administration.Flush(domain: "two.test"));
        await q.IdleAsync();
        await routeHost.WaitForTransactionsAsync(2, TimeSpan.FromSeconds(20));
        Assert.Equal(["carol@two.test"], routeHost.Received[1].Recipients);
        Assert.Equal(0, q.Manager.PendingRecipients);
    }

    [Fact]
    public async Task Flush_for_a_domain_closes_the_circuits_of_its_destinations_only()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o =>
            o.Relay.Routes["routed.test"] = new() { Host = "[127.0.0.1]", Port = 2525, Tls = OutboundTlsPolicy.None, Hold = true });
        await q.StartAsync();
        var remote = q.Remote;
        var routedKey = remote.Select("routed.test").Key;
        string[] destinations = ["remote.test", "notremote.test", "remote.test.evil", "sub.remote.test", routedKey];
        var dead = q.Time.GetUtcNow() + TimeSpan.FromMinutes(10);
        foreach (var name in destinations) remote.Destination(name).DeadUntil = dead;

        q.Administration.Flush(domain: "remote.test");
        q.Administration.Flush(domain: "Routed.Test.");
        await q.IdleAsync();

        var closed = destinations.Where(d => remote.Destination(d).DeadUntil is null).ToArray();
        // The domain's own destination and the route its mail goes through; not the names that merely contain it.
        Assert.Equal("remote.test, " + routedKey, string.Join(", ", closed));
    }
}
