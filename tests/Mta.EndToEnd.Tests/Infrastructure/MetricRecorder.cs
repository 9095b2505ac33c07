// Records one server's Mta measurements through a MeterListener, told apart from other servers' by its meter factory.
using System.Diagnostics.Metrics;
using Mta.Engine.Telemetry;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>One measurement: the instrument, the value and its tags.</summary>
public sealed record RecordedMeasurement(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags);

/// <summary>
/// Listens to the instruments of <see cref="MtaTelemetry.MeterNames"/> that belong to one server (tests run servers in
/// parallel in one process; each has its own meter factory). Observable gauges are read by <see cref="Observe"/>.
/// </summary>
public sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<RecordedMeasurement> _measurements = [];

    public MetricRecorder(IServiceProvider services)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (MtaTelemetry.BelongsTo(instrument, services)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        _listener.Start();
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var tag in tags) map[tag.Key] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture);
        lock (_measurements) _measurements.Add(new RecordedMeasurement(instrument.Name, value, map));
    }

    /// <summary>Reads the observable gauges now; their measurements join the others.</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    public IReadOnlyList<RecordedMeasurement> Of(string instrument, params (string Key, string Value)[] tags)
    {
        lock (_measurements)
            return _measurements.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value)).ToList();
    }

    /// <summary>The sum of a counter's (or up-down counter's) measurements with these tags.</summary>
    public double Sum(string instrument, params (string Key, string Value)[] tags) => Of(instrument, tags).Sum(m => m.Value);

    /// <summary>The last observed value of a gauge with these tags, after reading the gauges again.</summary>
    public double? Gauge(string instrument, params (string Key, string Value)[] tags)
    {
        Observe();
        return Of(instrument, tags).LastOrDefault()?.Value;
    }

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds: outcomes are counted just after the mail lands.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waiting for " + what);
            await Task.Delay(20);
        }
    }

    public void Dispose() => _listener.Dispose();
}
