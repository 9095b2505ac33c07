// Every instrument of Mta, created once per host from its IMeterFactory, and the allocation-free calls that feed them.
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Mta.Abstractions;
using Mta.Protocol;
using static Mta.Engine.Telemetry.MtaTelemetry;

namespace Mta.Engine.Telemetry;

/// <summary>Recipients in the queue by state, and the oldest message's age: one pass over the queue.</summary>
internal readonly record struct QueueLevels(long Ready, long Active, long Deferred, long Held, double OldestAgeSeconds);

/// <summary>
/// The instruments of <see cref="MtaTelemetry.MeterNames"/>. One per host: its meters come from the host's
/// <see cref="IMeterFactory"/>, so two servers in one process (the tests) never mix their counts, and a listener
/// tells them apart by <see cref="Meter.Scope"/>. Each call site passes its tags as structs (a string tag value is
/// not boxed, and numbers are turned into cached strings here), so a measurement allocates nothing; with no listener
/// an instrument is disabled and a call costs a branch.
/// </summary>
public sealed class MtaMetrics
{
    private static readonly double[] DeliveryBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
    private static readonly double[] HookBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] DnsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly string[] ReplyCodes = new string[600];
    private static readonly string[] RouteKinds = Enum.GetValues<RouteKind>().Select(k => k.ToString().ToLowerInvariant()).ToArray();

    private readonly UpDownCounter<long> _connectionsOpen;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _connectionsRefused;
    private readonly Counter<long> _tlsSessions;
    private readonly Counter<long> _transactions;
    private readonly Counter<long> _receivedBytes;
    private readonly Counter<long> _deliveryAttempts;
    private readonly Histogram<double> _deliveryDuration;
    private readonly Histogram<double> _hookDuration;
    private readonly Counter<long> _hookFailures;
    private readonly Histogram<double> _dnsDuration;
    private readonly Counter<long> _authFailures;
    private readonly Lock _gate = new();
    private Func<QueueLevels>? _queue;
    private readonly List<Func<IEnumerable<Measurement<int>>>> _circuits = [];

    /// <param name="meters">The host's meter factory: each host gets meters of its own.</param>
    public MtaMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var receiver = meters.Create(ReceiverMeter);
        var queue = meters.Create(QueueMeter);
        var delivery = meters.Create(DeliveryMeter);
        var hooks = meters.Create(HooksMeter);
        var dns = meters.Create(DnsMeter);
        var auth = meters.Create(AuthMeter);

        _connectionsOpen = receiver.CreateUpDownCounter<long>(Instruments.ConnectionsOpen, "{connection}", "SMTP connections open now");
        _connections = receiver.CreateCounter<long>(Instruments.Connections, "{connection}", "SMTP connections accepted");
        _connectionsRefused = receiver.CreateCounter<long>(Instruments.ConnectionsRefused, "{connection}", "SMTP connections refused before the session by a connection limit or the PROXY check");
        _tlsSessions = receiver.CreateCounter<long>(Instruments.TlsSessions, "{session}", "TLS handshakes completed on SMTP connections");
        _transactions = receiver.CreateCounter<long>(Instruments.Transactions, "{transaction}", "Messages answered after their data, by reply");
        _receivedBytes = receiver.CreateCounter<long>(Instruments.ReceivedBytes, "By", "Message octets received, accepted or not");

        queue.CreateObservableGauge(Instruments.QueueRecipients, ObserveRecipients, "{recipient}", "Recipients in the queue by state");
        queue.CreateObservableGauge(Instruments.QueueOldestAge, ObserveOldestAge, "s", "Age of the oldest message in the queue");

        _deliveryAttempts = delivery.CreateCounter<long>(Instruments.DeliveryAttempts, "{attempt}", "Recipient outcomes of delivery attempts");
        _deliveryDuration = delivery.CreateHistogram(Instruments.DeliveryDuration, "s", "Duration of one delivery attempt (one agent call for the recipients sharing a route)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DeliveryBuckets });
        delivery.CreateObservableGauge(Instruments.CircuitState, ObserveCircuits, null, "Circuit of a destination: 0 closed, 1 half-open, 2 open");

        _hookDuration = hooks.CreateHistogram(Instruments.HookDuration, "s", "Duration of one hook handler call",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = HookBuckets });
        _hookFailures = hooks.CreateCounter<long>(Instruments.HookFailures, "{failure}", "Hook handler calls that threw, overran their budget or were skipped out of service");

        _dnsDuration = dns.CreateHistogram(Instruments.DnsLookupDuration, "s", "Duration of DNS lookups sent to a server",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DnsBuckets });

        _authFailures = auth.CreateCounter<long>(Instruments.AuthFailures, "{failure}", "Failed SMTP AUTH attempts");
    }

    // Receiver.

    internal void ConnectionOpened(string listener)
    {
        var tag = new KeyValuePair<string, object?>(Tags.Listener, listener);
        _connections.Add(1, tag);
        _connectionsOpen.Add(1, tag);
    }

    internal void ConnectionClosed(string listener) => _connectionsOpen.Add(-1, new KeyValuePair<string, object?>(Tags.Listener, listener));

    /// <param name="listener">The listener.</param>
    /// <param name="reason">One of a fixed set: <c>server_full</c>, <c>address_limit</c>, <c>proxy</c>.</param>
    internal void ConnectionRefused(string listener, string reason) =>
        _connectionsRefused.Add(1, new KeyValuePair<string, object?>(Tags.Listener, listener), new KeyValuePair<string, object?>(Tags.Reason, reason));

    internal void TlsEstablished(string listener, string protocol) =>
        _tlsSessions.Add(1, new KeyValuePair<string, object?>(Tags.Listener, listener), new KeyValuePair<string, object?>(Tags.Protocol, protocol));

    /// <summary>One message answered after its data (or a chunk that ended its transaction): the reply and the octets.</summary>
    internal void Transaction(string listener, SmtpReply reply, long bytes)
    {
        var listenerTag = new KeyValuePair<string, object?>(Tags.Listener, listener);
        if (_transactions.Enabled)
        {
            var tags = new TagList
            {
                listenerTag,
                { Tags.Result, reply.Code / 100 == 2 ? "accepted" : "rejected" },
                { Tags.ReplyCode, ReplyCode(reply.Code) },
                { Tags.EnhancedClass, EnhancedClass(reply.EnhancedCode) },
            };
            _transactions.Add(1, in tags);
        }
        if (bytes > 0) _receivedBytes.Add(bytes, listenerTag);
    }

    // Delivery.

    internal static string RouteKindName(RouteKind kind) => (uint)kind < (uint)RouteKinds.Length ? RouteKinds[(int)kind] : "other";

    internal static string OutcomeName(DeliveryStatus status) => status switch
    {
        DeliveryStatus.Delivered => "delivered",
        DeliveryStatus.Deferred => "deferred",
        _ => "failed",
    };

    /// <summary>One recipient's outcome of an attempt.</summary>
    /// <param name="outcome"><see cref="OutcomeName"/>.</param>
    /// <param name="routeKind"><see cref="RouteKindName"/>, or <c>hook</c> when a hook decided without a route.</param>
    internal void DeliveryAttempt(string outcome, string routeKind) =>
        _deliveryAttempts.Add(1, new KeyValuePair<string, object?>(Tags.Outcome, outcome), new KeyValuePair<string, object?>(Tags.RouteKind, routeKind));

    internal bool DeliveryDurationEnabled => _deliveryDuration.Enabled;

    internal void DeliveryDuration(TimeSpan elapsed, string outcome, string routeKind) =>
        _deliveryDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>(Tags.Outcome, outcome), new KeyValuePair<string, object?>(Tags.RouteKind, routeKind));

    // Hooks.

    /// <summary>True when the hook durations are listened to (the pipeline reads the clock only then).</summary>
    internal bool HookDurationEnabled => _hookDuration.Enabled;

    /// <summary>True when either hook instrument is listened to; otherwise the pipeline skips measuring altogether.</summary>
    internal bool HooksEnabled => _hookDuration.Enabled || _hookFailures.Enabled;

    internal void HookCall(in HookTags tags, long startedTimestamp, bool failed)
    {
        if (startedTimestamp != 0) _hookDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, tags.Hook, tags.Handler);
        if (failed) _hookFailures.Add(1, tags.Hook, tags.Handler);
    }

    internal void HookFailed(in HookTags tags) => _hookFailures.Add(1, tags.Hook, tags.Handler);

    // DNS and AUTH.

    internal bool DnsEnabled => _dnsDuration.Enabled;

    internal void DnsLookup(string type, DnsStatus status, TimeSpan elapsed) =>
        _dnsDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>(Tags.Type, type), new KeyValuePair<string, object?>(Tags.Result, DnsResult(status)));

    internal void AuthFailure(string listener, string mechanism) =>
        _authFailures.Add(1, new KeyValuePair<string, object?>(Tags.Listener, listener), new KeyValuePair<string, object?>(Tags.Mechanism, mechanism));

    // Observed levels.

    /// <summary>The queue whose levels the gauges report (one per host).</summary>
    internal void ObserveQueue(Func<QueueLevels> levels)
    {
        lock (_gate) _queue = levels;
    }

    /// <summary>Adds a set of destinations whose circuit state the gauge reports (one per SMTP delivery agent).</summary>
    internal void ObserveCircuits(Func<IEnumerable<Measurement<int>>> circuits)
    {
        lock (_gate) _circuits.Add(circuits);
    }

    /// <summary>The circuit state's measurement for one destination.</summary>
    internal static Measurement<int> Circuit(string destination, int state) =>
        new(state, new KeyValuePair<string, object?>(Tags.Destination, destination));

    // Read afresh by each gauge: a reading cached across collections would show one consumer (the status view, a
    // scrape) what another saw a moment before. One pass over the queue each, at collection time only.
    private QueueLevels Levels()
    {
        Func<QueueLevels>? queue;
        lock (_gate) queue = _queue;
        return queue?.Invoke() ?? default;
    }

    private IEnumerable<Measurement<long>> ObserveRecipients()
    {
        var levels = Levels();
        return
        [
            new(levels.Ready, new KeyValuePair<string, object?>(Tags.State, "ready")),
            new(levels.Active, new KeyValuePair<string, object?>(Tags.State, "active")),
            new(levels.Deferred, new KeyValuePair<string, object?>(Tags.State, "deferred")),
            new(levels.Held, new KeyValuePair<string, object?>(Tags.State, "held")),
        ];
    }

    private Measurement<double> ObserveOldestAge() => new(Levels().OldestAgeSeconds);

    private IEnumerable<Measurement<int>> ObserveCircuits()
    {
        Func<IEnumerable<Measurement<int>>>[] sources;
        lock (_gate) sources = [.. _circuits];
        return sources.SelectMany(s => s());
    }

    private static string ReplyCode(int code)
    {
        if ((uint)code >= (uint)ReplyCodes.Length) return code.ToString(CultureInfo.InvariantCulture);
        // A benign race: two threads may both make the string once.
        return ReplyCodes[code] ??= code.ToString(CultureInfo.InvariantCulture);
    }

    private static string EnhancedClass(string? enhanced) => enhanced is { Length: > 0 } e ? e[0] switch
    {
        '2' => "2",
        '4' => "4",
        '5' => "5",
        _ => "none",
    } : "none";

    private static string DnsResult(DnsStatus status) => status switch
    {
        DnsStatus.Found => "found",
        DnsStatus.NotFound => "not_found",
        _ => "temporary_failure",
    };
}

/// <summary>A hook handler's two tags, made once when it is registered, so each call's measurement allocates nothing.</summary>
internal readonly struct HookTags(string hook, string handler)
{
    internal KeyValuePair<string, object?> Hook { get; } = new(MtaTelemetry.Tags.Hook, hook);
    internal KeyValuePair<string, object?> Handler { get; } = new(MtaTelemetry.Tags.Handler, handler);
}
