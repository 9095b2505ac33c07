// The server's status: a sampler every 10 s into an hour-long ring, and the snapshot `mta status` prints.
using System.Reflection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Status;

/// <summary>
/// Implements <see cref="IServerStatus"/>. Traffic comes from the server's instruments (<see cref="ActivityMeter"/>),
/// queue levels straight from the queue, so the status needs no counters of its own in the hot paths. A background
/// loop takes a sample every <see cref="SampleInterval"/> on the injected <see cref="TimeProvider"/>, so tests drive the
/// history with a fake clock instead of waiting.
/// </summary>
public sealed partial class ServerStatus : BackgroundService, IServerStatus
{
    /// <summary>The time between two samples, and so the resolution of the history and of the last-minute rates.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(10);

    /// <summary>Samples kept: one hour at <see cref="SampleInterval"/>, what the console's overview draws.</summary>
    public const int HistoryCapacity = 360;

    /// <summary>Rows of the qshape table when the caller does not say: a screen's worth, as an operator scans it.</summary>
    public const int DefaultTopDomains = 10;

    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly ActivityMeter _meter;
    private readonly StatusSources _sources;
    private readonly ILogger _logger;
    private readonly ActivityHistory _history = new(HistoryCapacity);
    private readonly Lock _gate = new();
    private PeriodicTimer? _timer;

    internal ServerStatus(TimeProvider time, ActivityMeter meter, StatusSources sources, ILogger<ServerStatus> logger)
    {
        _time = time;
        _meter = meter;
        _sources = sources;
        _logger = logger;
        // Constructed when the host resolves its hosted services, before any of them starts: the start of the server.
        StartedAt = time.GetUtcNow();
    }

    /// <summary>When the server started (when this service was made, before the listeners opened).</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>The version of the running engine: its informational version, the source revision cut to 12 digits.</summary>
    public static string Version { get; } = ReadVersion();

    /// <inheritdoc />
    public ServerStatusSnapshot Snapshot() => Snapshot(DefaultTopDomains);

    /// <inheritdoc />
    public ServerStatusSnapshot Snapshot(int topDomains)
    {
        var now = _time.GetUtcNow();
        var totals = _meter.Read();
        ActivityHistory.Entry? baseline;
        lock (_gate) baseline = _history.LastAtOrBefore(now - Minute);
        // Before a sample a minute old exists the server has been up for less: its counts since start, as they are.
        var since = baseline?.Sample.At ?? StartedAt;
        var counts = totals - (baseline?.Totals ?? default);
        var window = now - since;
        var scale = 60.0 / Math.Max(window.TotalSeconds, 60.0);
        var rates = new ActivityRates(Rate(counts.Connections), Rate(counts.Accepted), Rate(counts.Rejected),
            Rate(counts.Delivered), Rate(counts.Deferred), Rate(counts.Failed), window);
        var (queue, shape) = _sources.Census(now, topDomains);
        return new ServerStatusSnapshot(now, StartedAt, now - StartedAt, _sources.HostName, Version, _sources.Listeners(),
            totals.ConnectionsOpen, rates, queue, shape);

        double Rate(long count) => Math.Round(count * scale, 1);
    }

    /// <inheritdoc />
    public IReadOnlyList<ActivitySample> History(TimeSpan span)
    {
        if (span <= TimeSpan.Zero) return [];
        var since = _time.GetUtcNow() - span;
        lock (_gate) return _history.After(since);
    }

    /// <summary>Takes one sample now: the counts since the previous one, the levels now. The loop calls it every
    /// <see cref="SampleInterval"/>; tests call it after moving their clock.</summary>
    internal ActivitySample TakeSample()
    {
        var now = _time.GetUtcNow();
        var totals = _meter.Read();
        var pending = _sources.PendingRecipients();
        lock (_gate)
        {
            var counts = totals - (_history.Newest?.Totals ?? default);
            var sample = new ActivitySample(now, counts.Accepted, counts.Rejected, counts.Delivered, counts.Deferred, counts.Failed,
                pending, totals.ConnectionsOpen);
            _history.Add(new ActivityHistory.Entry(sample, totals));
            return sample;
        }
    }

    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Armed here, not in ExecuteAsync (which the host runs on another thread some time later): the ticks are every
        // 10 s from the start, whatever the clock does before the loop first waits.
        _timer ??= new PeriodicTimer(SampleInterval, _time);
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var timer = _timer ??= new PeriodicTimer(SampleInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    TakeSample();
                }
                catch (Exception ex)
                {
                    // A status gap is better than a stopped sampler (or a stopped host): the next tick tries again.
                    LogSampleFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _timer?.Dispose();
        _meter.Dispose();
        base.Dispose();
    }

    private static string ReadVersion()
    {
        var version = typeof(ServerStatus).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                      ?? typeof(ServerStatus).Assembly.GetName().Version?.ToString() ?? "?";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 && version.Length > plus + 13 ? version[..(plus + 13)] : version;
    }

    [LoggerMessage(EventId = LogEvents.Status.SampleFailed, Level = LogLevel.Warning, Message = "Status: taking an activity sample failed; the history has a gap")]
    private partial void LogSampleFailed(Exception exception);
}
