// The span context of the session that received each queued message, so its delivery spans can link back to it.
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Mta.Engine.Telemetry;

/// <summary>
/// Queue id to the receiving session's span context, for messages received by this process while tracing was on. A
/// delivery span links to it (a delivery may come days later, so it is a link, not a parent). Kept in memory only: a
/// message recovered after a restart has no link. Entries go when the message is done; at most <see cref="Capacity"/>
/// are kept, so a queue that only grows costs bounded memory (messages past it get no link).
/// </summary>
public sealed class ReceivedSpans
{
    /// <summary>The most span contexts kept; about 100 bytes each.</summary>
    public const int Capacity = 100_000;

    private readonly ConcurrentDictionary<string, ActivityContext> _contexts = new(StringComparer.Ordinal);
    // ConcurrentDictionary.Count takes every lock; this is read on every add.
    private int _count;

    /// <summary>Entries held now.</summary>
    public int Count => Volatile.Read(ref _count);

    internal void Add(string queueId, ActivityContext context)
    {
        if (Volatile.Read(ref _count) >= Capacity) return;
        if (_contexts.TryAdd(queueId, context)) Interlocked.Increment(ref _count);
    }

    /// <summary>Marks a message received in a session the sampler left out: its deliveries make no span either, so
    /// a trace never holds a message's deliveries without its receipt.</summary>
    internal void AddUnsampled(string queueId) => Add(queueId, default);

    /// <summary>What this process knows of the session that received <paramref name="queueId"/>.</summary>
    internal ReceivedAs Find(string queueId, out ActivityContext context)
    {
        if (!_contexts.TryGetValue(queueId, out context)) return ReceivedAs.Unknown;
        return context == default ? ReceivedAs.Unsampled : ReceivedAs.Sampled;
    }

    internal void Remove(string queueId)
    {
        if (_contexts.TryRemove(queueId, out _)) Interlocked.Decrement(ref _count);
    }
}

/// <summary>How a queued message was received, as far as tracing goes.</summary>
internal enum ReceivedAs
{
    /// <summary>Not by a session of this process while tracing was on (recovered after a restart, picked up, or past
    /// <see cref="ReceivedSpans.Capacity"/>): the sampler decides by the queue id alone.</summary>
    Unknown,

    /// <summary>In a session whose span was recorded: deliveries link to it and are sampled with it.</summary>
    Sampled,

    /// <summary>In a session the sampler left out: its deliveries make no span.</summary>
    Unsampled,
}
