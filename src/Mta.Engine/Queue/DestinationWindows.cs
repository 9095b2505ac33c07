// Per-destination concurrency: how many deliveries run (busy), how many may (window), and the work waiting for a slot (todo).
using System.Collections.Concurrent;

namespace Mta.Engine.Queue;

/// <summary>
/// The scheduler's per-destination windows, as Postfix's qmgr keeps a todo list and a busy count per destination.
/// A delivery takes a slot or waits in its destination's todo list without holding a worker; a delivery that ends
/// hands its slot straight to the next waiting one, so a waiting delivery cannot be overtaken for ever by new mail
/// and no wake-up can be lost.
/// </summary>
/// <typeparam name="T">The waiting work.</typeparam>
internal sealed class DestinationWindows<T>
{
    private readonly ConcurrentDictionary<string, Destination> _destinations = new(StringComparer.OrdinalIgnoreCase);
    private int _waiting;

    /// <summary>Work waiting for a slot, over all destinations.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Takes a slot of <paramref name="destination"/> (window <paramref name="window"/>), or queues
    /// <paramref name="work"/> in its todo list and returns false.</summary>
    public bool TryAcquireOrWait(string destination, int window, T work)
    {
        var d = _destinations.GetOrAdd(destination, static _ => new Destination());
        lock (d)
        {
            if (d.Busy < window)
            {
                d.Busy++;
                return true;
            }
            d.Todo.Enqueue(work);
            Interlocked.Increment(ref _waiting);
            return false;
        }
    }

    /// <summary>
    /// Ends one delivery to <paramref name="destination"/>. When work is waiting its slot passes to the first of it,
    /// which is returned (the caller runs it, already holding the slot); otherwise the slot is freed.
    /// </summary>
    public bool Release(string destination, out T next)
    {
        if (_destinations.TryGetValue(destination, out var d))
        {
            lock (d)
            {
                if (d.Todo.TryDequeue(out next!))
                {
                    Interlocked.Decrement(ref _waiting);
                    return true;
                }
                d.Busy--;
            }
        }
        next = default!;
        return false;
    }

    /// <summary>Deliveries running to each destination with at least one (for the operator).</summary>
    public IReadOnlyDictionary<string, (int Busy, int Waiting)> Snapshot()
    {
        var result = new Dictionary<string, (int, int)>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, d) in _destinations)
        {
            lock (d)
            {
                if (d.Busy > 0 || d.Todo.Count > 0) result[name] = (d.Busy, d.Todo.Count);
            }
        }
        return result;
    }

    private sealed class Destination
    {
        public int Busy;
        public Queue<T> Todo { get; } = new();
    }
}
