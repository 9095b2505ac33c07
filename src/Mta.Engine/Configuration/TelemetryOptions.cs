// The `Telemetry` section: the OpenTelemetry SDK's providers and where they export (Prometheus scrape, OTLP).
namespace Mta.Engine.Configuration;

/// <summary>
/// Metrics and traces through the OpenTelemetry .NET SDK. The instruments and spans exist whatever this says (the
/// status view and <c>mta status</c> read the instruments in process); these settings decide whether the SDK collects
/// them and where it sends them. Both exporters are off by default: an MTA nobody asked to publish its numbers opens
/// no port and sends nothing.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>Run the SDK's meter provider over <c>MtaTelemetry.MeterNames</c> when an exporter takes its output
    /// (<see cref="Prometheus"/> or <see cref="Otlp"/>). Default true.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>Run the SDK's tracer provider over the <c>Mta.Receiver</c> and <c>Mta.Delivery</c> sources (every span
    /// recorded) when <see cref="Otlp"/> sends them somewhere; without it no span is made. Default true.</summary>
    public bool Traces { get; set; } = true;

    /// <summary>The share of SMTP sessions traced, from 0 to 1 (default 1: every one). A message's delivery spans follow
    /// the decision made for the session that received it, so a sampled message keeps its whole story and an unsampled
    /// one costs no span; a message not received here while tracing was on (recovered, picked up) is decided by its
    /// queue id at the same ratio, the same way on every attempt.</summary>
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>The Prometheus scrape endpoint on the server's web listener (<c>Web:Urls</c>).</summary>
    public PrometheusOptions Prometheus { get; set; } = new();

    /// <summary>Push metrics and traces to an OpenTelemetry collector.</summary>
    public OtlpOptions Otlp { get; set; } = new();
}

/// <summary>
/// The scrape endpoint. Served by the web listener, which starts for it even when <c>Web:Enabled</c> is false (only
/// the endpoint and the health probes are then mapped); the listener stays where <c>Web:Urls</c> puts it, loopback by
/// default.
/// </summary>
public sealed class PrometheusOptions
{
    /// <summary>Serve the scrape endpoint. Default false. Needs <c>Telemetry:Metrics</c>.</summary>
    public bool Enabled { get; set; }

    /// <summary>The endpoint's path. Default <c>/metrics</c>, where Prometheus looks unless told otherwise.</summary>
    public string Path { get; set; } = "/metrics";
}

/// <summary>OTLP export of both signals (whichever of <c>Telemetry:Metrics</c> and <c>Telemetry:Traces</c> is on).</summary>
public sealed class OtlpOptions
{
    /// <summary>Export over OTLP. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The collector's base URL, as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> takes it: with
    /// <see cref="OtlpProtocol.HttpProtobuf"/> the signals go to <c>/v1/metrics</c> and <c>/v1/traces</c> under it. Default
    /// <c>http://localhost:4318</c> (an OpenTelemetry Collector on the same host, OTLP/HTTP).</summary>
    public string Endpoint { get; set; } = "http://localhost:4318";

    /// <summary>OTLP/HTTP with protobuf bodies, or OTLP/gRPC (usually port 4317). Default <see cref="OtlpProtocol.HttpProtobuf"/>.</summary>
    public OtlpProtocol Protocol { get; set; } = OtlpProtocol.HttpProtobuf;

    /// <summary>How often metrics are pushed. Default 60 seconds, the SDK's own default; traces go in batches as they end.</summary>
    public TimeSpan MetricsInterval { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>The OTLP transport.</summary>
public enum OtlpProtocol
{
    /// <summary>OTLP/HTTP, protobuf-encoded (<c>http/protobuf</c>).</summary>
    HttpProtobuf,

    /// <summary>OTLP/gRPC.</summary>
    Grpc,
}
