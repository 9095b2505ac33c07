// The `status` control command: the snapshot goes over the socket whole, with the qshape rows the client asked for.
using System.Text.Json.Nodes;
using Mta.Engine.Control;
using Mta.Engine.Status;
using Mta.Engine.Tests.Control;

namespace Mta.Engine.Tests.Status;

public sealed class StatusControlCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    private sealed class FakeStatus : IServerStatus
    {
        public int? Top;

        public ServerStatusSnapshot Snapshot() => Snapshot(ServerStatus.DefaultTopDomains);

        public ServerStatusSnapshot Snapshot(int topDomains)
        {
            Top = topDomains;
            var shape = new QueueShapeBuilder(Now);
            shape.Add("remote.test", Now.AddMinutes(-12));
            shape.Add("remote.test", Now.AddMinutes(-12));
            shape.Add("other.test", Now);
            return new ServerStatusSnapshot(Now, Now.AddHours(-2), TimeSpan.FromHours(2), "mta.test", "1.2.3",
                [new ListenerStatus("smtp", "127.0.0.1:2525", "smtp", "starttls")], 3,
                new ActivityRates(12, 10, 1, 9, 2, 0, TimeSpan.FromSeconds(60)),
                new QueueStatus(2, 3, 1, 0, 2, 0, TimeSpan.FromMinutes(12)), shape.Build(topDomains));
        }

        public IReadOnlyList<ActivitySample> History(TimeSpan span) => [];
    }

    [Fact]
    public async Task Status_answers_with_the_snapshot_and_passes_top_on()
    {
        var status = new FakeStatus();
        await using var harness = await new ControlHarness(extra: [new StatusControlCommand(status)]).StartAsync();
        await using var client = await harness.ConnectAsync();

        var response = await client.RequestAsync(StatusControlCommand.CommandName, new JsonObject { ["top"] = 1 }, Ct);
        response.EnsureOk();
        var snapshot = response.GetResult(StatusJsonContext.Default.ServerStatusSnapshot);
        Assert.Equal(1, status.Top);
        Assert.Equal(status.Snapshot(1) with { Listeners = snapshot.Listeners, Shape = snapshot.Shape }, snapshot);
        Assert.Equal("remote.test", Assert.Single(snapshot.Shape.Domains).Domain);
        Assert.Equal(2, snapshot.Shape.DomainCount);
        Assert.Equal([0, 0, 2, 0, 0, 0, 0, 0, 0, 0], snapshot.Shape.Domains[0].Buckets);
        Assert.Equal(new ListenerStatus("smtp", "127.0.0.1:2525", "smtp", "starttls"), Assert.Single(snapshot.Listeners));

        // The wire shape `mta status --json` prints: camelCase.
        var raw = response.Result.GetRawText();
        Assert.Contains("\"hostName\":\"mta.test\"", raw);
        Assert.Contains("\"queue\":{\"messages\":2,\"recipients\":3,\"ready\":1,\"active\":0,\"deferred\":2,\"held\":0,\"oldestAge\":\"00:12:00\"}", raw);

        response = await client.RequestAsync(StatusControlCommand.CommandName, null, Ct);
        response.EnsureOk();
        Assert.Equal(ServerStatus.DefaultTopDomains, status.Top);

        response = await client.RequestAsync(StatusControlCommand.CommandName, new JsonObject { ["top"] = -1 }, Ct);
        Assert.False(response.Ok);
        Assert.Equal(ControlErrorCodes.BadRequest, response.Code);
    }
}
