// The SDK's providers run only when an exporter takes their output: spans and SDK measurements nobody reads cost CPU.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Web.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Mta.Engine.Tests.Configuration;

public sealed class TelemetryProvidersTests
{
    private static (MeterProvider? Meters, TracerProvider? Tracer) Providers(Action<TelemetryOptions> configure)
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        configure(options.Telemetry);
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddLogging();
        services.AddMtaTelemetry(options);
        using var provider = services.BuildServiceProvider();
        var meters = provider.GetService<MeterProvider>();
        var tracer = provider.GetService<TracerProvider>();
        return (meters, tracer);
    }

    [Fact]
    public void The_defaults_export_nothing_so_no_provider_runs()
    {
        var (meters, tracer) = Providers(_ => { });
        Assert.Null(meters);
        Assert.Null(tracer);
    }

    [Fact]
    public void The_scrape_endpoint_runs_the_meter_provider_and_no_tracer()
    {
        var (meters, tracer) = Providers(t => t.Prometheus.Enabled = true);
        Assert.NotNull(meters);
        Assert.Null(tracer);
    }

    [Fact]
    public void Otlp_runs_both_unless_a_signal_is_switched_off()
    {
        var both = Providers(t => t.Otlp.Enabled = true);
        Assert.NotNull(both.Meters);
        Assert.NotNull(both.Tracer);
        var tracesOnly = Providers(t => { t.Otlp.Enabled = true; t.Metrics = false; });
        Assert.Null(tracesOnly.Meters);
        Assert.NotNull(tracesOnly.Tracer);
    }
}
