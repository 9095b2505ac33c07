// The server-wide budget of message data held by sessions before their final dot (Limits:Data:InFlightBudget).
namespace Mta.Engine.Receiver;

/// <summary>Octets of message data all sessions hold at once, in memory or in spill files, against a fixed budget.</summary>
internal sealed class DataBudget(long limit)
{
    private long _used;

    public long Limit { get; } = limit;

    /// <summary>Octets held now.</summary>
    public long Used => Interlocked.Read(ref _used);

    /// <summary>Takes <paramref name="octets"/> from the budget; false, taking nothing, when that would pass the limit.</summary>
    public bool TryReserve(long octets)
    {
        if (Interlocked.Add(ref _used, octets) <= Limit) return true;
        Interlocked.Add(ref _used, -octets);
        return false;
    }

    public void Release(long octets)
    {
        if (octets > 0) Interlocked.Add(ref _used, -octets);
    }
}
