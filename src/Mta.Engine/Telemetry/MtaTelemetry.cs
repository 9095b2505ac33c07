// The names of Mta's meters, instruments, tags and activity sources: the contract dashboards, the status view and tests read.
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mta.Engine.Telemetry;

/// <summary>
/// Every name Mta's telemetry is published under. Dashboards, alert rules, <c>mta status</c> and the web console find
/// instruments by these names, so they are fixed here once and never spelled elsewhere. Instrument names follow the
/// OpenTelemetry conventions (dotted, lower case, unit in the unit field, not in the name); an exporter to Prometheus
/// turns <c>mta.smtp.connections</c> into <c>mta_smtp_connections_total</c>.
/// </summary>
public static class MtaTelemetry
{
    /// <summary>The receiver: connections, TLS, transactions, bytes received.</summary>
    public const string ReceiverMeter = "Mta.Receiver";

    /// <summary>The queue's levels: recipients by state, the oldest message's age.</summary>
    public const string QueueMeter = "Mta.Queue";

    /// <summary>Delivery attempts, their duration and the destinations' circuit state.</summary>
    public const string DeliveryMeter = "Mta.Delivery";

    /// <summary>Hook calls: durations, failures, and the runaway guard's counts (the meter existed before the others).</summary>
    public const string HooksMeter = Extensibility.Containment.HookContainment.MeterName;

    /// <summary>DNS lookups that went to a server (cache hits are not measured).</summary>
    public const string DnsMeter = "Mta.Dns";

    /// <summary>SMTP AUTH failures.</summary>
    public const string AuthMeter = "Mta.Auth";

    /// <summary>Every meter of Mta, for an exporter's <c>AddMeter</c> or a listener's filter.</summary>
    public static IReadOnlyList<string> MeterNames { get; } = [ReceiverMeter, QueueMeter, DeliveryMeter, HooksMeter, DnsMeter, AuthMeter];

    /// <summary>The activity source of SMTP sessions: one span per session.</summary>
    public const string ReceiverSourceName = "Mta.Receiver";

    /// <summary>The activity source of deliveries: one span per delivery attempt, linked to the session that received the message.</summary>
    public const string DeliverySourceName = "Mta.Delivery";

    /// <summary>Every activity source of Mta, for a tracer's <c>AddSource</c>.</summary>
    public static IReadOnlyList<string> ActivitySourceNames { get; } = [ReceiverSourceName, DeliverySourceName];

    // Static: an ActivitySource has no factory to scope it by, and listeners tell servers apart by the spans' tags.
    internal static readonly ActivitySource ReceiverSource = new(ReceiverSourceName);
    internal static readonly ActivitySource DeliverySource = new(DeliverySourceName);

    /// <summary>
    /// True when <paramref name="instrument"/> belongs to the server whose services are <paramref name="services"/>: its
    /// meters come from that host's <see cref="IMeterFactory"/>, so a listener in a process that runs several servers
    /// (the tests) counts only its own.
    /// </summary>
    public static bool BelongsTo(Instrument instrument, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        ArgumentNullException.ThrowIfNull(services);
        return MeterNames.Contains(instrument.Meter.Name)
            && instrument.Meter.Scope is { } scope && ReferenceEquals(scope, services.GetService(typeof(IMeterFactory)));
    }

    /// <summary>Instrument names, each with its type, unit and tags in <c>docs/operations.md</c>.</summary>
    public static class Instruments
    {
        /// <summary>UpDownCounter {connection}: SMTP connections open now; tag <c>listener</c>.</summary>
        public const string ConnectionsOpen = "mta.smtp.connections.open";

        /// <summary>Counter {connection}: SMTP connections accepted (admitted to a session); tag <c>listener</c>.</summary>
        public const string Connections = "mta.smtp.connections";

        /// <summary>Counter {connection}: connections refused before the session; tags <c>listener</c>, <c>reason</c>.</summary>
        public const string ConnectionsRefused = "mta.smtp.connections.refused";

        /// <summary>Counter {session}: TLS handshakes completed (STARTTLS or implicit); tags <c>listener</c>, <c>protocol</c>.</summary>
        public const string TlsSessions = "mta.smtp.tls.sessions";

        /// <summary>Counter {transaction}: messages answered after their data; tags <c>listener</c>, <c>result</c>,
        /// <c>reply_code</c>, <c>enhanced_class</c>.</summary>
        public const string Transactions = "mta.smtp.transactions";

        /// <summary>Counter By: message octets received (accepted or not); tag <c>listener</c>.</summary>
        public const string ReceivedBytes = "mta.smtp.received.bytes";

        /// <summary>ObservableGauge {recipient}: recipients in the queue; tag <c>state</c>.</summary>
        public const string QueueRecipients = "mta.queue.recipients";

        /// <summary>ObservableGauge s: age of the oldest message in the queue (0 when empty).</summary>
        public const string QueueOldestAge = "mta.queue.oldest.age";

        /// <summary>Counter {attempt}: recipient outcomes of delivery attempts; tags <c>outcome</c>, <c>route_kind</c>.</summary>
        public const string DeliveryAttempts = "mta.delivery.attempts";

        /// <summary>Histogram s: duration of one delivery attempt (one agent call); tags <c>outcome</c>, <c>route_kind</c>.</summary>
        public const string DeliveryDuration = "mta.delivery.duration";

        /// <summary>ObservableGauge: the circuit of a destination, 0 closed, 1 half-open, 2 open; tag <c>destination</c>.</summary>
        public const string CircuitState = "mta.delivery.circuit.state";

        /// <summary>Histogram s: duration of one hook handler call; tags <c>hook</c>, <c>handler</c>.</summary>
        public const string HookDuration = "mta.hooks.duration";

        /// <summary>Counter {failure}: hook handler calls that threw, overran or were skipped out of service; tags <c>hook</c>, <c>handler</c>.</summary>
        public const string HookFailures = "mta.hooks.failures";

        /// <summary>Histogram s: DNS lookups sent to a server; tags <c>type</c>, <c>result</c>.</summary>
        public const string DnsLookupDuration = "mta.dns.lookup.duration";

        /// <summary>Counter {failure}: failed SMTP AUTH attempts; tags <c>listener</c>, <c>mechanism</c>.</summary>
        public const string AuthFailures = "mta.auth.failures";
    }

    /// <summary>Tag names. Every value set is bounded (listeners, mechanisms, hooks, handlers come from the configuration);
    /// <see cref="Destination"/> is the only one that grows with traffic.</summary>
    public static class Tags
    {
        /// <summary>The listener's name (<c>Listeners:N:Name</c>).</summary>
        public const string Listener = "listener";

        /// <summary>Why a connection was refused: <c>server_full</c>, <c>address_limit</c>, <c>proxy</c>.</summary>
        public const string Reason = "reason";

        /// <summary>The TLS version: <c>TLSv1.2</c>, <c>TLSv1.3</c>.</summary>
        public const string Protocol = "protocol";

        /// <summary><c>accepted</c> or <c>rejected</c>.</summary>
        public const string Result = "result";

        /// <summary>The three-digit reply code.</summary>
        public const string ReplyCode = "reply_code";

        /// <summary>The enhanced status code's class: <c>2</c>, <c>4</c>, <c>5</c>, or <c>none</c>.</summary>
        public const string EnhancedClass = "enhanced_class";

        /// <summary>The recipient state: <c>ready</c>, <c>active</c>, <c>deferred</c>, <c>held</c>.</summary>
        public const string State = "state";

        /// <summary><c>delivered</c>, <c>deferred</c> or <c>failed</c>.</summary>
        public const string Outcome = "outcome";

        /// <summary>The route kind, lower case (<c>mailbox</c>, <c>remote</c>, ...), or <c>hook</c> when a hook decided.</summary>
        public const string RouteKind = "route_kind";

        /// <summary>The destination (mail domain or next hop): the only tag that grows with traffic.</summary>
        public const string Destination = "destination";

        /// <summary>The hook (its context type, e.g. <c>RcptContext</c>).</summary>
        public const string Hook = "hook";

        /// <summary>The handler's name.</summary>
        public const string Handler = "handler";

        /// <summary>The DNS record type (<c>A</c>, <c>MX</c>, <c>TXT</c>, ...).</summary>
        public const string Type = "type";

        /// <summary>The SASL mechanism (<c>PLAIN</c>, <c>LOGIN</c>).</summary>
        public const string Mechanism = "mechanism";

        /// <summary>The queue id on spans and span events.</summary>
        public const string QueueId = "mta.queue_id";
    }
}
