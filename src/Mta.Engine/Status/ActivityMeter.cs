// Running totals of traffic read from the server's own instruments through a MeterListener: connections, transactions, delivery outcomes.
using System.Diagnostics.Metrics;
using Mta.Engine.Telemetry;

namespace Mta.Engine.Status;

/// <summary>
/// Sums what the receiver and the delivery side already measure, so the status counts exactly what the metrics export
/// counts and no code path counts twice. It listens by instrument name (<see cref="MtaTelemetry.Instruments"/>); when the host
/// has a meter factory, only meters of that factory count, so two servers in one process (the tests) keep apart.
/// Measurement callbacks run on the measuring thread: each is one tag scan and one interlocked add.
/// </summary>
internal sealed class ActivityMeter : IDisposable
{
    private const string Transactions = MtaTelemetry.Instruments.Transactions;
    private const string Connections = MtaTelemetry.Instruments.Connections;
    private const string ConnectionsOpen = MtaTelemetry.Instruments.ConnectionsOpen;
    private const string DeliveryAttempts = MtaTelemetry.Instruments.DeliveryAttempts;

    private readonly MeterListener _listener = new();
    private readonly object? _scope;
    private long _connections, _accepted, _rejected, _delivered, _deferred, _failed, _open;

    /// <param name="scope">The host's meter factory: meters it created count, meters of another factory do not. Null
    /// (no factory) counts every meter with these instrument names.</param>
    public ActivityMeter(IMeterFactory? scope)
    {
        _scope = scope;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (IsWanted(instrument)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        _listener.Start();
    }

    private bool IsWanted(Instrument instrument)
    {
        if (instrument.Name is not (Transactions or Connections or ConnectionsOpen or DeliveryAttempts)) return false;
        // A meter made without a factory has no scope: it may be shared, but it is the only one there is.
        return _scope is null || instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, _scope);
    }

    /// <summary>The totals since this meter started; <see cref="ActivityTotals.ConnectionsOpen"/> is the level now.</summary>
    public ActivityTotals Read() => new(
        Interlocked.Read(ref _connections), Interlocked.Read(ref _accepted), Interlocked.Read(ref _rejected),
        Interlocked.Read(ref _delivered), Interlocked.Read(ref _deferred), Interlocked.Read(ref _failed),
        Math.Max(0, Interlocked.Read(ref _open)));

    private void Record(string name, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        switch (name)
        {
            case Connections:
                Interlocked.Add(ref _connections, value);
                break;
            case ConnectionsOpen:
                Interlocked.Add(ref _open, value);
                break;
            case Transactions:
                switch (Tag(tags, MtaTelemetry.Tags.Result))
                {
                    case "accepted": Interlocked.Add(ref _accepted, value); break;
                    case "rejected": Interlocked.Add(ref _rejected, value); break;
                }
                break;
            case DeliveryAttempts:
                switch (Tag(tags, MtaTelemetry.Tags.Outcome))
                {
                    case "delivered": Interlocked.Add(ref _delivered, value); break;
                    case "deferred": Interlocked.Add(ref _deferred, value); break;
                    case "failed": Interlocked.Add(ref _failed, value); break;
                }
                break;
        }
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var tag in tags)
            if (tag.Key == key) return tag.Value as string;
        return null;
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Running totals of <see cref="ActivityMeter"/> at one moment; differences of two are the counts between them.</summary>
internal readonly record struct ActivityTotals(long Connections, long Accepted, long Rejected, long Delivered, long Deferred, long Failed, long ConnectionsOpen)
{
    /// <summary>The counts from <paramref name="earlier"/> to <paramref name="later"/>; the level is <paramref name="later"/>'s.</summary>
    public static ActivityTotals operator -(ActivityTotals later, ActivityTotals earlier) => new(
        later.Connections - earlier.Connections, later.Accepted - earlier.Accepted, later.Rejected - earlier.Rejected,
        later.Delivered - earlier.Delivered, later.Deferred - earlier.Deferred, later.Failed - earlier.Failed, later.ConnectionsOpen);
}
