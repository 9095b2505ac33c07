// Registers the server status (sampler, snapshot) and its `status` control command.
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.Engine.Receiver;

namespace Mta.Engine.Status;

/// <summary>DI registration of <see cref="IServerStatus"/>.</summary>
public static class StatusServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ServerStatus"/> (also as <see cref="IServerStatus"/>) as a hosted service that samples every
    /// 10 s, and the <c>status</c> control command. Expects the queue (<see cref="QueueServiceCollectionExtensions.AddMtaQueue"/>),
    /// <see cref="MtaOptions"/> and <see cref="TimeProvider"/>; reads the listeners from <see cref="SmtpServer"/> when
    /// the host has one. Idempotent.
    /// </summary>
    public static IServiceCollection AddMtaStatus(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ServerStatus))) return services;
        services.AddMetrics();
        services.TryAddSingleton(sp => new ServerStatus(sp.GetRequiredService<TimeProvider>(),
            new ActivityMeter(sp.GetService<IMeterFactory>()),
            StatusSources.Of(sp.GetRequiredService<MtaOptions>(), sp.GetService<SmtpServer>(), sp.GetRequiredService<QueueScheduler>(),
                sp.GetRequiredService<QueueCounters>()),
            sp.GetRequiredService<ILogger<ServerStatus>>()));
        services.TryAddSingleton<IServerStatus>(sp => sp.GetRequiredService<ServerStatus>());
        services.TryAddSingleton<SpoolWritableProbe>();
        services.AddSingleton<IControlCommandHandler, StatusControlCommand>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerStatus>());
        return services;
    }
}
