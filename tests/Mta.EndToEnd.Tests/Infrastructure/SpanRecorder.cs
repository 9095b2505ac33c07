// Records the spans of Mta's activity sources that end while it listens (every server in the process: filter by tags).
using System.Collections.Concurrent;
using System.Diagnostics;
using Mta.Engine.Telemetry;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>An <see cref="ActivityListener"/> on <see cref="MtaTelemetry.ActivitySourceNames"/> that samples everything.
/// Activity sources are process-wide, so a test picks its own spans by the server's port or its queue ids.</summary>
public sealed class SpanRecorder : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public SpanRecorder()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => MtaTelemetry.ActivitySourceNames.Contains(source.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IReadOnlyList<Activity> Stopped => [.. _stopped];

    /// <summary>Waits (bounded) for an ended span that matches.</summary>
    public async Task<Activity> WaitForAsync(Func<Activity, bool> match, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            if (_stopped.FirstOrDefault(match) is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waiting for span: " + what);
            await Task.Delay(20);
        }
    }

    public void Dispose() => _listener.Dispose();
}
