// Registers the runaway guard and lets a server reload put every handler back in service.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Extensibility.Containment;

public static class ContainmentServiceCollectionExtensions
{
    /// <summary>Adds <see cref="HookContainment"/> (with the host's meter factory) and its <see cref="IReloadable"/>.</summary>
    public static IServiceCollection AddMtaHookContainment(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton(sp => new HookContainment(sp.GetRequiredService<MtaOptions>().HookContainment,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<HookContainment>>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IReloadable>(sp => new ContainmentReload(sp.GetRequiredService<HookContainment>()));
        return services;
    }

    /// <summary>A reload (SIGHUP, <c>mta reload</c>) puts every script and plugin back in service.</summary>
    private sealed class ContainmentReload(HookContainment containment) : IReloadable
    {
        public string Name => "hook containment";

        public void Reload(MtaOptions options) => containment.RestoreAll();
    }
}
