// Registers the reload coordinator, the SIGHUP handler and the `reload` control command for a host that has a configuration file.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Control;

namespace Mta.Engine.Reload;

/// <summary>DI registration of reloading.</summary>
public static class ReloadServiceCollectionExtensions
{
    /// <summary>
    /// Adds reloading from <paramref name="reader"/>. Call it before <c>AddMtaEngine</c>: the SIGHUP handler is then the
    /// first hosted service, so a SIGHUP during start-up reloads (or waits) instead of ending the process.
    /// </summary>
    public static IServiceCollection AddMtaReload(this IServiceCollection services, IConfigurationReader reader)
    {
        services.TryAddSingleton(reader);
        services.TryAddSingleton<ReloadCoordinator>();
        services.TryAddSingleton<ReloadSignal>();
        services.AddHostedService(sp => sp.GetRequiredService<ReloadSignal>());
        services.AddSingleton<IControlCommandHandler, ReloadControlCommand>();
        return services;
    }
}
