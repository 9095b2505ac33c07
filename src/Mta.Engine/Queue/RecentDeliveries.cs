// The last delivery attempts in a fixed ring: written by the journal without a lock, read newest first by the console.
using Mta.Engine.Status;

namespace Mta.Engine.Queue;

/// <summary>
/// A ring of the last <see cref="Capacity"/> delivery records, one per recipient attempt, fed by the
/// <see cref="DeliveryJournal"/> where it records outcomes. Writers claim a slot with one interlocked increment and
/// store a reference: no lock, so a burst of deliveries never queues behind a reader. Each slot remembers which write
/// filled it, so a reader skips a slot overwritten since (or claimed and not yet filled) instead of showing it out of
/// order.
/// </summary>
internal sealed class RecentDeliveries : IRecentDeliveries
{
    /// <summary>Records kept: enough for a console page and a look back over a busy minute, about 0.3 MB.</summary>
    public const int DefaultCapacity = 1000;

    private readonly Slot?[] _slots;
    private long _written;

    public RecentDeliveries() : this(DefaultCapacity)
    {
    }

    public RecentDeliveries(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _slots = new Slot?[capacity];
    }

    /// <summary>How many records the ring keeps.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Records one recipient's attempt.</summary>
    public void Add(DeliveryRecord record)
    {
        var sequence = Interlocked.Increment(ref _written) - 1;
        Volatile.Write(ref _slots[sequence % _slots.Length], new Slot(sequence, record));
    }

    /// <inheritdoc />
    public IReadOnlyList<DeliveryRecord> Recent(int max)
    {
        if (max <= 0) return [];
        var end = Volatile.Read(ref _written);
        var oldest = Math.Max(0, end - _slots.Length);
        var result = new List<DeliveryRecord>((int)Math.Min(max, end - oldest));
        for (var sequence = end - 1; sequence >= oldest && result.Count < max; sequence--)
        {
            var slot = Volatile.Read(ref _slots[sequence % _slots.Length]);
            if (slot is not null && slot.Sequence == sequence) result.Add(slot.Record);
        }
        return result;
    }

    private sealed record Slot(long Sequence, DeliveryRecord Record);
}
