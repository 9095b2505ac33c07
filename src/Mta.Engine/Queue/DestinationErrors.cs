// The last failure seen at each destination, for the operator's destinations view.
using System.Collections.Concurrent;

namespace Mta.Engine.Queue;

/// <summary>
/// The last error (and its time) of each destination, fed by the <see cref="DeliveryJournal"/> on every deferral and
/// failure. Bounded: past <see cref="MaxEntries"/> destinations, those whose error is older than
/// <see cref="DestinationStatus.RecentErrorWindow"/> are dropped, then the oldest, so mail to a million domains cannot
/// grow it without end.
/// </summary>
internal sealed class DestinationErrors
{
    /// <summary>Destinations remembered at most.</summary>
    public const int MaxEntries = 4096;

    private readonly ConcurrentDictionary<string, (string Error, DateTimeOffset At)> _errors = new(StringComparer.OrdinalIgnoreCase);
    private int _pruning;

    /// <summary>Records a failure at <paramref name="destination"/>.</summary>
    public void Record(string destination, string error, DateTimeOffset at)
    {
        _errors[destination] = (error, at);
        if (_errors.Count > MaxEntries) Prune(at);
    }

    /// <summary>The last error of each destination since <paramref name="since"/>.</summary>
    public IEnumerable<(string Destination, string Error, DateTimeOffset At)> Since(DateTimeOffset since)
    {
        foreach (var (destination, (error, at)) in _errors)
            if (at >= since) yield return (destination, error, at);
    }

    /// <summary>The last error of one destination, if any.</summary>
    public (string Error, DateTimeOffset At)? Of(string destination) => _errors.TryGetValue(destination, out var e) ? e : null;

    private void Prune(DateTimeOffset now)
    {
        // One pruner at a time; the others go on (the dictionary overshoots by a few meanwhile).
        if (Interlocked.Exchange(ref _pruning, 1) == 1) return;
        try
        {
            var stale = now - DestinationStatus.RecentErrorWindow;
            foreach (var (destination, (_, at)) in _errors)
                if (at < stale) _errors.TryRemove(destination, out _);
            var excess = _errors.Count - MaxEntries * 3 / 4;
            if (excess <= 0) return;
            foreach (var (destination, _) in _errors.OrderBy(e => e.Value.At).Take(excess).ToArray())
                _errors.TryRemove(destination, out _);
        }
        finally
        {
            Volatile.Write(ref _pruning, 0);
        }
    }
}
