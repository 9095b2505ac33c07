// The destinations view: circuit state from the breaker, pending recipients, last error and next attempt per destination.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Engine.Status;
using Mta.Engine.Tests.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Status;

public sealed class DestinationStatusTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] Body = SpoolTestData.Message("where to");

    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task A_dead_route_shows_an_open_circuit_its_pending_recipients_error_and_next_attempt()
    {
        var port = ClosedPort();
        await using var q = new QueueHarness(_dir.Path, configure: o =>
        {
            o.Relay.Routes["dead.test"] = new() { Host = "[127.0.0.1]", Port = port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectRetries = 0;
            o.Relay.Resilience.BreakerMinimumThroughput = 2;
        });
        await q.StartAsync();
        var status = q.Services.GetRequiredService<IDestinationStatus>();
        Assert.Empty(status.Destinations());

        await q.SubmitAsync(Body, "a@dead.test");
        await q.SubmitAsync(Body, "b@dead.test", "c@dead.test");
        await q.SubmitAsync(Body, "far@remote.test");
        var now = q.Time.GetUtcNow();
        var key = q.Remote.Select("dead.test").Key;

        var destinations = status.Destinations();
        Assert.Equal([key, "remote.test"], destinations.Select(d => d.Destination));
        var dead = destinations[0];
        Assert.Equal(("open", 3), (dead.CircuitState, dead.PendingRecipients));
        Assert.NotNull(dead.LastError);
        Assert.Equal(now, dead.LastErrorAt);
        Assert.Equal(now + TimeSpan.FromMinutes(5), dead.NextAttempt);
        var dns = destinations[1];
        // Its failure came before any connection (DNS): no breaker was built, so it reads closed.
        Assert.Equal(("closed", 1), (dns.CircuitState, dns.PendingRecipients));
        Assert.Contains("4.4.3", dns.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Held_recipients_still_count_and_a_recent_error_keeps_a_destination_listed_for_an_hour()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var status = q.Services.GetRequiredService<IDestinationStatus>();
        var id = (await q.SubmitAsync(Body, "far@remote.test")).QueueId;
        await q.Administration.HoldAsync(id, TestContext.Current.CancellationToken);
        var held = Assert.Single(status.Destinations());
        Assert.Equal(("remote.test", 1, (DateTimeOffset?)null), (held.Destination, held.PendingRecipients, held.NextAttempt));

        await q.Administration.DeleteAsync(id, TestContext.Current.CancellationToken);
        var gone = Assert.Single(status.Destinations());
        Assert.Equal(0, gone.PendingRecipients);
        Assert.NotNull(gone.LastError);
        q.Time.Advance(TimeSpan.FromMinutes(61));
        Assert.Empty(status.Destinations());
    }

    [Fact]
    public async Task Recipients_not_yet_tried_count_under_the_destination_their_domain_routes_to()
    {
        string id;
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            id = (await q.SubmitAsync(Body, "far@remote.test", "near@remote.test")).QueueId;
        }
        // After a restart nothing has been tried yet: the recipients are counted by their domain's route.
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            await q.IdleAsync();
            var only = Assert.Single(q.Services.GetRequiredService<IDestinationStatus>().Destinations());
            Assert.Equal(("remote.test", 2), (only.Destination, only.PendingRecipients));
            Assert.NotNull(q.Administration.Find(id));
        }
    }
}
