// The in-memory IStateStore behind a plugin's or script's context: thread-safe, with TTLs and bounded growth.
using System.Collections.Concurrent;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.State;

/// <summary>
/// An <see cref="IStateStore"/> kept in memory for the life of the process. Expired entries are dropped when
/// read and swept every <see cref="SweepInterval"/> writes' worth of time, so a store fed ever-new keys with a
/// time to live (rate-limit windows keyed by client address) cannot grow without bound.
/// </summary>
public sealed class MemoryStateStore : IStateStore
{
    /// <summary>How often, at most, a write sweeps expired entries. Sweeping is lazy: no timer per store.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private long _nextSweepTicks;

    /// <summary>Creates an empty store using <paramref name="timeProvider"/> (default: the system clock) for expiry.</summary>
    public MemoryStateStore(TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _nextSweepTicks = Now + SweepInterval.Ticks;
    }

    /// <summary>The number of entries held, expired ones not yet swept included.</summary>
    public int Count => _entries.Count;

    private long Now => _time.GetUtcNow().UtcTicks;

    /// <inheritdoc />
    public bool TryGet<T>(string key, out T? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_entries.TryGetValue(key, out var entry))
        {
            if (entry.IsExpired(Now))
            {
                // Only remove this exact entry: a concurrent Set may already have replaced it.
                _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
            }
            else
            {
                var stored = entry switch
                {
                    CounterEntry counter => Volatile.Read(ref counter.Value),
                    WindowEntry window => window.Count(Now),
                    _ => ((ValueEntry)entry).Value,
                };
                if (stored is T typed) { value = typed; return true; }
                if (stored is null && default(T) is null) { value = default; return true; }
            }
        }
        value = default;
        return false;
    }

    /// <inheritdoc />
    public void Set<T>(string key, T value, TimeSpan? timeToLive = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = Now;
        _entries[key] = new ValueEntry(value, ExpiryOf(now, timeToLive));
        MaybeSweep(now);
    }

    /// <inheritdoc />
    public bool Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _entries.TryRemove(key, out var entry) && !entry.IsExpired(Now);
    }

    /// <inheritdoc />
    public long Increment(string key, long delta = 1, TimeSpan? timeToLive = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = Now;
        MaybeSweep(now);
        while (true)
        {
            var entry = _entries.GetOrAdd(key, static (_, state) => new CounterEntry(ExpiryOf(state.now, state.timeToLive)), (now, timeToLive));
            if (entry.IsExpired(now))
            {
                // The window is over: start a new counter, unless someone else already has.
                _entries.TryUpdate(key, new CounterEntry(ExpiryOf(now, timeToLive)), entry);
                continue;
            }
            if (entry is CounterEntry counter) return Interlocked.Add(ref counter.Value, delta);
            // A plain value under this key: a number continues from it, anything else restarts at 0.
            var start = (entry as ValueEntry)?.Value switch
            {
                long l => l, int i => i, short s => s, byte b => b,
                _ => 0L,
            };
            var replaced = new CounterEntry(entry.ExpiresTicks) { Value = start + delta };
            if (_entries.TryUpdate(key, replaced, entry)) return replaced.Value;
        }
    }

    /// <summary>Sets a value only when the key holds no live value, atomically; returns whether it was set.</summary>
    public bool SetIfAbsent<T>(string key, T value, TimeSpan? timeToLive = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = Now;
        var fresh = new ValueEntry(value, ExpiryOf(now, timeToLive));
        MaybeSweep(now);
        while (true)
        {
            if (_entries.TryAdd(key, fresh)) return true;
            if (!_entries.TryGetValue(key, out var existing)) continue;
            if (!existing.IsExpired(now)) return false;
            if (_entries.TryUpdate(key, fresh, existing)) return true;
        }
    }

    /// <summary>Records <paramref name="hits"/> hits now and returns the hits within the last <paramref name="window"/>
    /// (see <see cref="IStateStore.CountInSlidingWindowAsync"/>).</summary>
    public long CountInSlidingWindow(string key, TimeSpan window, long hits = 1)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (window <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(window), window, "a window must be positive");
        ArgumentOutOfRangeException.ThrowIfNegative(hits);
        var now = Now;
        MaybeSweep(now);
        while (true)
        {
            var entry = _entries.GetOrAdd(key, static (_, ticks) => new WindowEntry(ticks), window.Ticks);
            if (entry is not WindowEntry sliding || entry.IsExpired(now))
            {
                // A value or counter under this key, or a window whose hits are all over: start a new window.
                _entries.TryUpdate(key, new WindowEntry(window.Ticks), entry);
                continue;
            }
            var count = sliding.Record(now, window.Ticks, hits);
            // A sweep may have dropped the entry as it went quiet; the hits must land in the one that is stored.
            if (_entries.TryGetValue(key, out var current) && ReferenceEquals(current, sliding)) return count;
        }
    }

    /// <inheritdoc />
    public ValueTask<(bool Found, T? Value)> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(TryGet<T>(key, out var value) ? (true, value) : (false, default(T)));

    /// <inheritdoc />
    public ValueTask SetAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        Set(key, value, timeToLive);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> SetIfAbsentAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(SetIfAbsent(key, value, timeToLive));

    /// <inheritdoc />
    public ValueTask<bool> RemoveAsync(string key, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Remove(key));

    /// <inheritdoc />
    public ValueTask<long> IncrementAsync(string key, long delta = 1, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Increment(key, delta, timeToLive));

    /// <inheritdoc />
    public ValueTask<long> CountInSlidingWindowAsync(string key, TimeSpan window, long hits = 1, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(CountInSlidingWindow(key, window, hits));

    /// <summary>Drops every expired entry now.</summary>
    public void Sweep()
    {
        var now = Now;
        foreach (var pair in _entries)
            if (pair.Value.IsExpired(now)) _entries.TryRemove(pair);
    }

    private void MaybeSweep(long now)
    {
        var next = Volatile.Read(ref _nextSweepTicks);
        if (now < next) return;
        // One writer wins the sweep; the others go on.
        if (Interlocked.CompareExchange(ref _nextSweepTicks, now + SweepInterval.Ticks, next) == next) Sweep();
    }

    private static long ExpiryOf(long now, TimeSpan? timeToLive)
    {
        if (timeToLive is not { } ttl) return long.MaxValue;
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeToLive), ttl, "a time to live must be positive");
        return ttl.Ticks >= long.MaxValue - now ? long.MaxValue : now + ttl.Ticks;
    }

    private abstract class Entry(long expiresTicks)
    {
        public virtual long ExpiresTicks { get; } = expiresTicks;
        public bool IsExpired(long now) => now >= ExpiresTicks;
    }

    private sealed class ValueEntry(object? value, long expiresTicks) : Entry(expiresTicks)
    {
        public object? Value { get; } = value;
    }

    private sealed class CounterEntry(long expiresTicks) : Entry(expiresTicks)
    {
        public long Value;
    }

    // The hits of one sliding window, oldest first; it expires one window after its newest hit.
    private sealed class WindowEntry(long windowTicks) : Entry(long.MaxValue)
    {
        private readonly Queue<(long Ticks, long Hits)> _hits = new();
        private long _total;
        private long _expiresTicks = long.MaxValue;

        public override long ExpiresTicks => Volatile.Read(ref _expiresTicks);

        public long Record(long now, long window, long hits)
        {
            lock (_hits)
            {
                Trim(now - window);
                if (hits > 0)
                {
                    _hits.Enqueue((now, hits));
                    _total += hits;
                    Volatile.Write(ref _expiresTicks, now + window);
                }
                else if (_hits.Count == 0) Volatile.Write(ref _expiresTicks, now);
                return _total;
            }
        }

        public long Count(long now)
        {
            lock (_hits)
            {
                Trim(now - windowTicks);
                return _total;
            }
        }

        private void Trim(long since)
        {
            while (_hits.Count > 0 && _hits.Peek().Ticks <= since) _total -= _hits.Dequeue().Hits;
        }
    }
}
