// Registers the control socket server and the queue commands it serves.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Mta.Engine.Control;

/// <summary>DI registration of the local control channel.</summary>
public static class ControlServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ControlServer"/> as a hosted service (resolvable as itself too) and the <c>queue.*</c> handlers.
    /// Requires <see cref="Configuration.MtaPaths"/> and <see cref="IQueueAdministration"/> in the container; further
    /// commands are added with <c>services.AddSingleton&lt;IControlCommandHandler, MyHandler&gt;()</c>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Adjusts the limits (tests shorten timeouts); else <c>Control</c> of the registered
    /// <see cref="Configuration.MtaOptions"/>, or the defaults.</param>
    public static IServiceCollection AddMtaControl(this IServiceCollection services, Action<ControlServerOptions>? configure = null)
    {
        // Twice would start the one server twice; the second start would find its own socket alive and fail.
        if (services.Any(d => d.ServiceType == typeof(ControlServer))) return services;
        // The Control section of the configuration when the host has one; the defaults otherwise.
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetService<Configuration.MtaOptions>()?.Control ?? new ControlServerOptions();
            configure?.Invoke(options);
            return options;
        });
        services.AddSingleton<IControlCommandHandler, QueueListCommand>();
        services.AddSingleton<IControlCommandHandler, QueueShowCommand>();
        services.AddSingleton<IControlCommandHandler, QueueFlushCommand>();
        services.AddSingleton<IControlCommandHandler, QueueDeleteCommand>();
        services.AddSingleton<IControlCommandHandler, QueueSearchCommand>();
        services.AddSingleton<IControlCommandHandler, QueueHoldCommand>();
        services.AddSingleton<IControlCommandHandler, QueueReleaseCommand>();
        services.TryAddSingleton<ControlServer>();
        services.AddHostedService(sp => sp.GetRequiredService<ControlServer>());
        return services;
    }
}
