// The console's read and act APIs against a running engine fed over SMTP: search (in process and over the control socket), hold and release, destinations, recent deliveries.
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.Engine.Status;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class QueueSearchEndToEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<MtaTestServer> StartMtaAsync(TestSmtpServer peer) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            foreach (var domain in new[] { "remote.test", "other.test" })
                o.Relay.Routes[domain] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectRetryDelay = TimeSpan.Zero;
        });

    private static async Task<string> SendAsync(MtaTestServer server, string from, string[] to, string subject)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, to, $"Subject: {subject}\r\n\r\nbody\r\n"), 250, "2.0.0", "queued as");
        return SmtpAssert.QueueIdOf(reply.Lines[^1]);
    }

    private static Task IdleAsync(MtaTestServer server) =>
        server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(30), Ct);

    [Fact]
    public async Task Deferred_mail_received_over_smtp_is_found_paged_held_and_released()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.7.1 greylisted" });
        await using var server = await StartMtaAsync(peer);
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
            ids.Add(await SendAsync(server, $"sender{i}@example.test", [$"rcpt{i}@{(i % 2 == 0 ? "remote" : "other")}.test"], $"m{i}"));
        await IdleAsync(server);

        // The console resolves all three from the engine's provider.
        var admin = server.Services.GetRequiredService<IQueueAdministration>();
        var destinations = server.Services.GetRequiredService<IDestinationStatus>();
        var recent = server.Services.GetRequiredService<IRecentDeliveries>();

        var first = admin.Search(new QueueQuery(), 0, 4);
        var second = admin.Search(new QueueQuery(), 4, 4);
        Assert.Equal((6, 6), (first.Total, second.Total));
        Assert.Equal(ids, first.Entries.Concat(second.Entries).Select(e => e.QueueId));
        Assert.Equal(ids.Where((_, i) => i % 2 == 1), admin.Search(new QueueQuery("OTHER.test"), 0, 10).Entries.Select(e => e.QueueId));
        Assert.Equal([ids[3]], admin.Search(new QueueQuery("sender3@"), 0, 10).Entries.Select(e => e.QueueId));
        Assert.Equal([ids[4]], admin.Search(new QueueQuery("RCPT4"), 0, 10).Entries.Select(e => e.QueueId));
        Assert.Equal([ids[5]], admin.Search(new QueueQuery(ids[5].ToLowerInvariant()), 0, 10).Entries.Select(e => e.QueueId));
        var deferred = admin.Search(new QueueQuery(State: QueueRecipientState.Deferred), 0, 10);
        Assert.Equal(6, deferred.Total);
        Assert.All(deferred.Entries, e => Assert.Contains("greylisted", Assert.Single(e.Recipients).LastError, StringComparison.Ordinal));

        // One destination: both domains route to the same peer.
        var destination = Assert.Single(destinations.Destinations());
        Assert.Equal(6, destination.PendingRecipients);
        Assert.Equal("closed", destination.CircuitState);
        Assert.Contains("greylisted", destination.LastError, StringComparison.Ordinal);
        Assert.NotNull(destination.NextAttempt);

        var attempts = recent.Recent(100);
        Assert.Equal(6, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(("deferred", "remote"), (a.Outcome, a.RouteKind)));
        // One per recipient attempt (attempts run side by side, so not necessarily in arrival order).
        Assert.Equal(ids.Order(), attempts.Select(a => a.QueueId).Order());

        // Hold one, then flush all: the held one stays, the others go.
        Assert.Equal(1, await admin.HoldAsync(ids[0], Ct));
        Assert.Equal([ids[0]], admin.Search(new QueueQuery(State: QueueRecipientState.Held), 0, 10).Entries.Select(e => e.QueueId));
        peer.Options.RcptReply = null;
        Assert.Equal(5, admin.Flush());
        await peer.WaitForTransactionsAsync(5, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        var left = admin.Search(new QueueQuery(), 0, 10);
        Assert.Equal(ids[0], Assert.Single(left.Entries).QueueId);
        Assert.Equal(QueueRecipientState.Held, Assert.Single(left.Entries[0].Recipients).State);

        Assert.Equal(1, await admin.ReleaseAsync(ids[0], Ct));
        await peer.WaitForTransactionsAsync(6, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        Assert.Equal(0, admin.Search(new QueueQuery(), 0, 10).Total);
        Assert.Equal("delivered", recent.Recent(1)[0].Outcome);
        Assert.Equal(ids[0], recent.Recent(1)[0].QueueId);
    }

    [Fact]
    public async Task The_control_socket_searches_holds_and_releases()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.7.1 greylisted" });
        await using var server = await StartMtaAsync(peer);
        var a = await SendAsync(server, "alice@example.test", ["bob@remote.test"], "a");
        var b = await SendAsync(server, "carol@example.test", ["dave@other.test"], "b");
        await IdleAsync(server);
        await using var client = await ControlClient.ConnectAsync(server.Paths.ControlSocketPath, Ct);

        async Task<(List<QueueEntrySnapshot> Entries, QueueSearchSummary Summary)> SearchAsync(JsonObject args)
        {
            var entries = new List<QueueEntrySnapshot>();
            QueueSearchSummary? summary = null;
            await foreach (var response in client.SendAsync(QueueControlCommands.Search, args, Ct))
            {
                if (response.More) entries.Add(response.GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot));
                else summary = response.GetResult(QueueControlJsonContext.Default.QueueSearchSummary);
            }
            return (entries, summary!);
        }

        var all = await SearchAsync(new JsonObject { ["limit"] = 1 });
        Assert.Equal([a], all.Entries.Select(e => e.QueueId));
        Assert.Equal(new QueueSearchSummary(2, 0, 1), all.Summary);
        var found = await SearchAsync(new JsonObject { ["text"] = "Carol", ["state"] = "deferred" });
        Assert.Equal([b], found.Entries.Select(e => e.QueueId));

        var held = await client.RequestAsync(QueueControlCommands.Hold, new JsonObject { ["ids"] = new JsonArray(b, "NOPE") }, Ct);
        Assert.Equal([new QueueHoldOutcome(b, true, 1), new QueueHoldOutcome("NOPE", false, 0)],
            held.GetResult(QueueControlJsonContext.Default.QueueHoldResult).Results);
        var heldOnes = await SearchAsync(new JsonObject { ["state"] = "held" });
        Assert.Equal([b], heldOnes.Entries.Select(e => e.QueueId));
        // On the wire the state is its lower-case name.
        await foreach (var response in client.SendAsync(QueueControlCommands.Search, new JsonObject { ["text"] = b }, Ct))
            if (response.More) Assert.Contains("\"state\":\"held\"", response.Result.GetRawText(), StringComparison.Ordinal);

        var bad = await client.RequestAsync(QueueControlCommands.Search, new JsonObject { ["state"] = "lost" }, Ct);
        Assert.Equal((false, ControlErrorCodes.BadRequest), (bad.Ok, bad.Code));

        peer.Options.RcptReply = null;
        var released = await client.RequestAsync(QueueControlCommands.Release, new JsonObject { ["ids"] = new JsonArray(b) }, Ct);
        Assert.Equal([new QueueHoldOutcome(b, true, 1)], released.GetResult(QueueControlJsonContext.Default.QueueHoldResult).Results);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal(["dave@other.test"], Assert.Single(peer.Received).Recipients);
    }
}
