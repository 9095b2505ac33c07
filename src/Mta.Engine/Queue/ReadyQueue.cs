// The queue manager's run queue: new mail and due retries in two lanes, so neither starves the other.
using System.Collections.Concurrent;

namespace Mta.Engine.Queue;

/// <summary>
/// Work ready for a delivery worker, in two lanes: fresh (new mail, and work that waited for a destination's
/// concurrency limit) and retries (deferred mail whose time has come). When both lanes hold work, one take in
/// <c>retryShare</c> goes to the retry lane, the others to the fresh lane; a lane alone gets every take. So a large
/// deferred backlog coming due at once slows new mail by a bounded share instead of queueing it behind the backlog,
/// and a flood of new mail cannot postpone retries for ever. (Postfix's queue manager alternates its incoming and
/// deferred queues for the same reason.)
/// </summary>
public sealed class ReadyQueue<T>
{
    private readonly ConcurrentQueue<T> _fresh = new();
    private readonly ConcurrentQueue<T> _retries = new();
    // One permit per queued item, so a taker that got a permit always finds an item in one of the lanes.
    private readonly SemaphoreSlim _available = new(0);
    private readonly int _retryShare;
    private long _takes;

    /// <param name="retryShare">One take in this many prefers the retry lane; at least 2.</param>
    public ReadyQueue(int retryShare)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retryShare, 2);
        _retryShare = retryShare;
    }

    /// <summary>Items waiting in both lanes.</summary>
    public int Count => _fresh.Count + _retries.Count;

    /// <summary>Items waiting in the retry lane.</summary>
    public int RetryCount => _retries.Count;

    /// <summary>Adds new work.</summary>
    public void EnqueueFresh(T item)
    {
        _fresh.Enqueue(item);
        _available.Release();
    }

    /// <summary>Adds a retry that has come due.</summary>
    public void EnqueueRetry(T item)
    {
        _retries.Enqueue(item);
        _available.Release();
    }

    /// <summary>Waits for an item and takes it, honouring the share.</summary>
    public async ValueTask<T> DequeueAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        var retryFirst = Interlocked.Increment(ref _takes) % _retryShare == 0;
        var spinner = new SpinWait();
        while (true)
        {
            // Items are enqueued before their permit is released, so one is there; another taker may have emptied the
            // preferred lane between our permit and our look, which the other lane then makes up for.
            if (retryFirst ? _retries.TryDequeue(out var item) || _fresh.TryDequeue(out item)
                           : _fresh.TryDequeue(out item) || _retries.TryDequeue(out item))
                return item;
            spinner.SpinOnce();
        }
    }
}
