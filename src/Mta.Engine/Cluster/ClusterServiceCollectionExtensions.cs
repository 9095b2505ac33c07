// Registers node identity, the heartbeat to Redis and the `cluster` control command.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Spool;

namespace Mta.Engine.Cluster;

/// <summary>DI registration of the cluster side of a node.</summary>
public static class ClusterServiceCollectionExtensions
{
    /// <summary>Adds <see cref="NodeIdentity"/>, <see cref="ClusterStore"/> and the <c>cluster</c> control command; the
    /// heartbeat is <see cref="AddMtaHeartbeat"/>'s. Expects the Redis connection. Idempotent.</summary>
    public static IServiceCollection AddMtaCluster(this IServiceCollection services, MtaOptions options)
    {
        if (services.Any(d => d.ServiceType == typeof(NodeIdentity))) return services;
        var identity = new NodeIdentity(options);
        // Here, before any service starts, so no queue id of this process is made without the node's tag.
        QueueIds.UseNodeTag(identity.QueueIdTagValue);
        services.AddSingleton(identity);
        services.TryAddSingleton<ClusterStore>();
        services.AddSingleton<IControlCommandHandler, ClusterControlCommand>();
        return services;
    }

    /// <summary>Adds the heartbeat: a hosted service that publishes this node to Redis (nothing without
    /// <c>State:Provider=Redis</c>). Only for the server itself (<c>mta run</c>): <c>mta turn</c> builds the same
    /// engine beside a running server under the same node name, and must not beat as that node. Call after
    /// <c>AddMtaEngine</c>, so the listeners are bound before the first beat; expects the status. Idempotent.</summary>
    public static IServiceCollection AddMtaHeartbeat(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ClusterHeartbeat))) return services;
        services.AddSingleton<ClusterHeartbeat>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterHeartbeat>());
        return services;
    }
}
