// The Prometheus scrape endpoint on the server's web listener, reading the engine's meter provider.
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Web.Hosting;
using OpenTelemetry.Metrics;

namespace Mta.Web.Metrics;

/// <summary>
/// Serves <c>Telemetry:Prometheus:Path</c>. It asks for the listener itself (<see cref="StartsServer"/>), so a server
/// that only wants to be scraped need not turn the console on. The meter provider lives in the engine's services (it
/// listens to the engine's meters); the web application gets that one instance, never one of its own.
/// </summary>
internal sealed class PrometheusModule(PrometheusOptions options) : IWebModule
{
    private MeterProvider? _provider;

    public bool StartsServer => options.Enabled;

    public void ConfigureServices(IServiceCollection web, IServiceProvider engine)
    {
        if (options.Enabled) _provider = engine.GetRequiredService<MeterProvider>();
    }

    public void Configure(WebApplication app)
    {
        // Open to whoever reaches the listener, as scrapes are: Web:Urls keeps it on loopback unless the operator says otherwise.
        if (_provider is { } provider) app.MapPrometheusScrapingEndpoint(options.Path, provider, null, null);
    }
}
