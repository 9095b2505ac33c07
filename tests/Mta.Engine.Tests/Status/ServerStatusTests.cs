// The status's history ring and rates on a fake clock, fed through a test meter with the instrument names the server uses.
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Status;

namespace Mta.Engine.Tests.Status;

public sealed class ServerStatusTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);
    private readonly ServiceProvider _provider = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly Meter _receiver, _delivery;
    private readonly Counter<long> _transactions, _connections, _attempts;
    private readonly UpDownCounter<long> _open;
    private long _pending;
    private readonly ServerStatus _status;

    public ServerStatusTests()
    {
        var meters = _provider.GetRequiredService<IMeterFactory>();
        _receiver = meters.Create("Mta.Receiver");
        _delivery = meters.Create("Mta.Delivery");
        _transactions = _receiver.CreateCounter<long>("mta.smtp.transactions");
        _connections = _receiver.CreateCounter<long>("mta.smtp.connections");
        _open = _receiver.CreateUpDownCounter<long>("mta.smtp.connections.open");
        _attempts = _delivery.CreateCounter<long>("mta.delivery.attempts");
        _status = NewStatus(meters);
    }

    public void Dispose()
    {
        _status.Dispose();
        _provider.Dispose();
    }

    private ServerStatus NewStatus(IMeterFactory meters) => new(_time, new ActivityMeter(meters),
        new StatusSources("mta.test", () => [new ListenerStatus("smtp", "127.0.0.1:2525", "smtp", "starttls")], () => _pending,
            (now, top) => (new QueueStatus(0, 0, 0, 0, 0, 0, null), new QueueShapeBuilder(now).Build(top))),
        NullLogger<ServerStatus>.Instance);

    private void Accept(int n = 1) => _transactions.Add(n, new KeyValuePair<string, object?>("result", "accepted"), new("listener", "smtp"));
    private void Reject(int n = 1) => _transactions.Add(n, new KeyValuePair<string, object?>("result", "rejected"));
    private void Attempt(string outcome, int n = 1) => _attempts.Add(n, new KeyValuePair<string, object?>("outcome", outcome), new("route_kind", "remote"));

    private ActivitySample Tick()
    {
        _time.Advance(ServerStatus.SampleInterval);
        return _status.TakeSample();
    }

    [Fact]
    public void A_sample_holds_the_counts_of_its_ten_seconds_and_the_levels_at_its_end()
    {
        Accept(3);
        Reject();
        Attempt("delivered", 2);
        Attempt("deferred");
        Attempt("failed");
        _connections.Add(4);
        _open.Add(4);
        _open.Add(-1);
        _pending = 7;

        var first = Tick();
        Assert.Equal(new ActivitySample(T0 + ServerStatus.SampleInterval, 3, 1, 2, 1, 1, 7, 3), first);

        Accept();
        _open.Add(-3);
        _pending = 6;
        var second = Tick();
        Assert.Equal(new ActivitySample(T0 + 2 * ServerStatus.SampleInterval, 1, 0, 0, 0, 0, 6, 0), second);

        Assert.Equal([first, second], _status.History(TimeSpan.FromHours(1)));
    }

    [Fact]
    public void The_history_keeps_one_hour_oldest_first_and_answers_for_a_span()
    {
        for (var i = 1; i <= 400; i++)
        {
            Accept(i);
            Tick();
        }

        var hour = _status.History(TimeSpan.FromHours(1));
        Assert.Equal(ServerStatus.HistoryCapacity, hour.Count);
        Assert.Equal(T0 + 41 * ServerStatus.SampleInterval, hour[0].At);
        Assert.Equal(41, hour[0].Accepted);
        Assert.Equal(_time.GetUtcNow(), hour[^1].At);
        Assert.Equal(400, hour[^1].Accepted);
        Assert.True(hour.Zip(hour.Skip(1)).All(p => p.Second.At - p.First.At == ServerStatus.SampleInterval));

        // A span asks for the samples taken within it before now; a longer one still gets the hour kept.
        var minute = _status.History(TimeSpan.FromMinutes(1));
        Assert.Equal(6, minute.Count);
        Assert.Equal([395, 396, 397, 398, 399, 400], minute.Select(s => s.Accepted));
        Assert.Equal(360, _status.History(TimeSpan.FromDays(1)).Count);
        Assert.Empty(_status.History(TimeSpan.Zero));
    }

    [Fact]
    public void The_last_minute_rates_are_the_counts_since_the_sample_a_minute_ago()
    {
        // Up for 20 s: what it counted since start, not extrapolated to a minute.
        Accept(5);
        _connections.Add(2);
        Tick();
        _time.Advance(TimeSpan.FromSeconds(10));
        var young = _status.Snapshot();
        Assert.Equal(5, young.LastMinute.Accepted);
        Assert.Equal(2, young.LastMinute.Connections);
        Assert.Equal(TimeSpan.FromSeconds(20), young.LastMinute.Window);
        Assert.Equal(TimeSpan.FromSeconds(20), young.Uptime);

        // Ten minutes at 6 accepted and 1 deferred per sample: 36 and 6 a minute.
        for (var i = 0; i < 60; i++)
        {
            Accept(6);
            Attempt("deferred");
            Tick();
        }
        var steady = _status.Snapshot();
        Assert.Equal(TimeSpan.FromSeconds(60), steady.LastMinute.Window);
        Assert.Equal(36, steady.LastMinute.Accepted);
        Assert.Equal(6, steady.LastMinute.Deferred);
        Assert.Equal(0, steady.LastMinute.Connections);

        // Between samples the window reaches back to the sample a minute old, and the count is scaled to a minute.
        Accept(6);
        _time.Advance(TimeSpan.FromSeconds(5));
        var between = _status.Snapshot();
        Assert.Equal(TimeSpan.FromSeconds(65), between.LastMinute.Window);
        Assert.Equal(Math.Round(42 * 60 / 65.0, 1), between.LastMinute.Accepted);
    }

    [Fact]
    public void The_snapshot_carries_the_servers_identity_listeners_and_connections()
    {
        _open.Add(2);
        _time.Advance(TimeSpan.FromMinutes(90));
        var snapshot = _status.Snapshot();
        Assert.Equal(T0, snapshot.StartedAt);
        Assert.Equal(TimeSpan.FromMinutes(90), snapshot.Uptime);
        Assert.Equal(T0.AddMinutes(90), snapshot.At);
        Assert.Equal("mta.test", snapshot.HostName);
        Assert.False(string.IsNullOrEmpty(snapshot.Version));
        Assert.Equal([new ListenerStatus("smtp", "127.0.0.1:2525", "smtp", "starttls")], snapshot.Listeners);
        Assert.Equal(2, snapshot.ConnectionsOpen);
        Assert.Equal("TOTAL", snapshot.Shape.Total.Domain);
    }

    [Fact]
    public void Another_servers_meters_are_not_counted()
    {
        using var other = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var foreign = other.GetRequiredService<IMeterFactory>().Create("Mta.Receiver");
        foreign.CreateCounter<long>("mta.smtp.transactions").Add(100, new KeyValuePair<string, object?>("result", "accepted"));
        Accept();
        Assert.Equal(1, Tick().Accepted);
    }

    [Fact]
    public async Task The_background_loop_samples_every_ten_seconds_of_the_clock()
    {
        await _status.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            Accept(2);
            for (var i = 1; i <= 3; i++)
            {
                _time.Advance(ServerStatus.SampleInterval);
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (_status.History(TimeSpan.FromHours(1)).Count < i && DateTime.UtcNow < deadline)
                    await Task.Delay(10, TestContext.Current.CancellationToken);
            }
            var history = _status.History(TimeSpan.FromHours(1));
            Assert.Equal([T0.AddSeconds(10), T0.AddSeconds(20), T0.AddSeconds(30)], history.Select(s => s.At));
            Assert.Equal([2L, 0L, 0L], history.Select(s => s.Accepted));
        }
        finally
        {
            await _status.StopAsync(CancellationToken.None);
        }
    }
}
