// Deferred work waiting for its next attempt: one priority queue and one timer, however large the backlog.
namespace Mta.Engine.Queue;

/// <summary>
/// Holds items until their due time and hands each to a callback then. One timer is armed for the earliest item, so
/// a backlog of a hundred thousand deferred recipients costs a heap entry each, not a timer each. Time comes from the
/// injected <see cref="TimeProvider"/>, so tests move a fake clock instead of sleeping.
/// </summary>
public sealed class RetrySchedule<T> : IDisposable
{
    private readonly PriorityQueue<T, DateTimeOffset> _heap = new();
    private readonly TimeProvider _time;
    private readonly Action<T> _due;
    private readonly Lock _gate = new();
    private readonly ITimer _timer;
    private DateTimeOffset? _armedFor;
    private bool _disposed;

    /// <param name="time">The clock.</param>
    /// <param name="due">Called (on a timer thread, outside any lock) with each item whose time has come.</param>
    public RetrySchedule(TimeProvider time, Action<T> due)
    {
        _time = time;
        _due = due;
        _timer = time.CreateTimer(static s => ((RetrySchedule<T>)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Items waiting.</summary>
    public int Count
    {
        get { lock (_gate) return _heap.Count; }
    }

    /// <summary>The earliest due time, or null when empty.</summary>
    public DateTimeOffset? NextDue
    {
        get { lock (_gate) return _heap.TryPeek(out _, out var at) ? at : null; }
    }

    /// <summary>Schedules an item; one already due is handed over at the next timer tick (at once).</summary>
    public void Add(T item, DateTimeOffset dueAt)
    {
        lock (_gate)
        {
            if (_disposed) return;
            _heap.Enqueue(item, dueAt);
            if (_armedFor is null || dueAt < _armedFor) Arm(dueAt);
        }
    }

    /// <summary>Takes out every item that matches, whatever its time (flush, delete).</summary>
    public List<T> RemoveWhere(Func<T, bool> match)
    {
        var removed = new List<T>();
        lock (_gate)
        {
            var kept = new List<(T, DateTimeOffset)>(_heap.Count);
            while (_heap.TryDequeue(out var item, out var at))
            {
                if (match(item)) removed.Add(item);
                else kept.Add((item, at));
            }
            _heap.EnqueueRange(kept);
        }
        return removed;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _heap.Clear();
        }
        _timer.Dispose();
    }

    // Called under _gate.
    private void Arm(DateTimeOffset dueAt)
    {
        var wait = dueAt - _time.GetUtcNow();
        if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
        // Timers take at most about 49 days; a later item is re-armed when this one fires.
        if (wait > TimeSpan.FromDays(30)) wait = TimeSpan.FromDays(30);
        _armedFor = dueAt;
        _timer.Change(wait, Timeout.InfiniteTimeSpan);
    }

    private void Fire()
    {
        List<T>? due = null;
        lock (_gate)
        {
            if (_disposed) return;
            var now = _time.GetUtcNow();
            _armedFor = null;
            while (_heap.TryPeek(out var item, out var at) && at <= now)
            {
                _heap.Dequeue();
                (due ??= []).Add(item);
            }
            if (_heap.TryPeek(out _, out var next)) Arm(next);
        }
        if (due is null) return;
        foreach (var item in due) _due(item);
    }
}
