// Running totals of the queue: recipients pending, and outcomes since start.
namespace Mta.Engine.Queue;

/// <summary>
/// Totals shared by the scheduler (which counts recipients in) and the journal (which counts outcomes and final
/// recipients out). Thread-safe; read by the operator's status and by tests.
/// </summary>
public sealed class QueueCounters
{
    private long _pending;
    private long _delivered, _bounced, _deferred;

    /// <summary>Recipients without a final outcome (queued, in delivery, or waiting for a retry).</summary>
    public long PendingRecipients => Interlocked.Read(ref _pending);

    /// <summary>Totals since start: delivered, bounced (permanent failures), deferred attempts.</summary>
    public (long Delivered, long Bounced, long Deferred) Totals =>
        (Interlocked.Read(ref _delivered), Interlocked.Read(ref _bounced), Interlocked.Read(ref _deferred));

    internal void RecipientPending() => Interlocked.Increment(ref _pending);
    internal void RecipientFinal() => Interlocked.Decrement(ref _pending);
    internal void CountDelivered() => Interlocked.Increment(ref _delivered);
    internal void CountBounced() => Interlocked.Increment(ref _bounced);
    internal void CountDeferred() => Interlocked.Increment(ref _deferred);
}
