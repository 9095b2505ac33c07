// Wires the OpenTelemetry SDK over Mta's meters and activity sources, with the exporters `Telemetry` turns on.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Mta.Engine.Telemetry;
using Mta.Web.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mta.Web.Metrics;

/// <summary>Adds the SDK's providers and exporters to the engine's host (<c>mta run</c>).</summary>
public static class TelemetryServiceCollectionExtensions
{
    /// <summary>The <c>service.name</c> of the resource every signal carries.</summary>
    public const string ServiceName = "mta";

    /// <summary>
    /// Registers the meter provider over <see cref="MtaTelemetry.MeterNames"/> (<c>Telemetry:Metrics</c>) and the tracer
    /// provider over <see cref="MtaTelemetry.ActivitySourceNames"/> (<c>Telemetry:Traces</c>), the Prometheus exporter
    /// and its scrape endpoint's web module (<c>Telemetry:Prometheus</c>), and OTLP for both signals
    /// (<c>Telemetry:Otlp</c>). Call after <c>AddMtaEngine</c> and <c>AddMtaWeb</c>. A provider runs only when an exporter
    /// takes its output.
    /// </summary>
    public static IServiceCollection AddMtaTelemetry(this IServiceCollection services, MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var telemetry = options.Telemetry;
        // The module is always there, so the web server asks it; it starts the listener only when the endpoint is on.
        services.AddSingleton<IWebModule>(new PrometheusModule(telemetry.Prometheus));
        services.AddHostedService(sp => new TelemetryLog(telemetry, sp.GetRequiredService<ILogger<TelemetryLog>>()));
        // A provider without an exporter would only make measurements and spans that nobody reads: each runs only when
        // something takes its output (the Prometheus endpoint or OTLP for metrics, OTLP for traces). The status and the
        // console read the instruments through a listener of their own, whatever this says.
        var otlp = telemetry.Otlp;
        var collectMetrics = telemetry.Metrics && (telemetry.Prometheus.Enabled || otlp.Enabled);
        var collectTraces = telemetry.Traces && otlp.Enabled;
        if (!collectMetrics && !collectTraces) return services;

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: typeof(MtaTelemetry).Assembly.GetName().Version?.ToString(),
                serviceInstanceId: options.HostName));
        if (collectMetrics)
        {
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter([.. MtaTelemetry.MeterNames]);
                if (telemetry.Prometheus.Enabled)
                    metrics.AddPrometheusExporter(o => o.ScrapeEndpointPath = telemetry.Prometheus.Path);
                if (otlp.Enabled)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        Configure(exporter, otlp, "v1/metrics");
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)otlp.MetricsInterval.TotalMilliseconds;
                    });
                }
            });
        }
        if (collectTraces)
        {
            otel.WithTracing(tracing =>
            {
                tracing.AddSource([.. MtaTelemetry.ActivitySourceNames]);
                tracing.SetSampler(new MessageSampler(telemetry.TraceSampleRatio));
                tracing.AddOtlpExporter(exporter => Configure(exporter, otlp, "v1/traces"));
            });
        }
        return services;
    }

    /// <summary>
    /// The endpoint and protocol from <c>Telemetry:Otlp</c>. An endpoint set in code is taken as the full URL for
    /// OTLP/HTTP (the SDK adds the signal's path only to one from <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>), so the path is
    /// added here: the option means what the environment variable means.
    /// </summary>
    private static void Configure(OtlpExporterOptions exporter, OtlpOptions otlp, string signalPath)
    {
        if (otlp.Protocol == OtlpProtocol.Grpc)
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = new Uri(otlp.Endpoint);
            return;
        }
        exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
        exporter.Endpoint = new Uri(otlp.Endpoint.TrimEnd('/') + "/" + signalPath);
    }
}
