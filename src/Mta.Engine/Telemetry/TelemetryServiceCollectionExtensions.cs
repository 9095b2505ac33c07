// Registers the engine's instruments and the span links; exporters are the host's business (src/Mta, AddMtaTelemetry).
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Mta.Engine.Telemetry;

/// <summary>The engine's side of telemetry: the instruments and the span links, with no SDK (the host adds that).</summary>
public static class TelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="MtaMetrics"/> (meters from the host's <c>IMeterFactory</c>, which this also registers) and
    /// <see cref="ReceivedSpans"/>. Instruments cost next to nothing until something listens: an exporter, the status
    /// view, a test's MeterListener.
    /// </summary>
    public static IServiceCollection AddMtaMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<MtaMetrics>();
        services.TryAddSingleton<ReceivedSpans>();
        return services;
    }
}
