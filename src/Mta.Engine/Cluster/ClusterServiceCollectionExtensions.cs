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
    /// <summary>Adds <see cref="NodeIdentity"/>, <see cref="ClusterStore"/>, the heartbeat (a hosted service that does
    /// nothing without <c>State:Provider=Redis</c>) and the <c>cluster</c> control command. Expects the status
    /// (<c>AddMtaStatus</c>) and the Redis connection. Idempotent.</summary>
    public static IServiceCollection AddMtaCluster(this IServiceCollection services, MtaOptions options)
    {
        if (services.Any(d => d.ServiceType == typeof(NodeIdentity))) return services;
        var identity = new NodeIdentity(options);
        // Here, before any service starts, so no queue id of this process is made without the node's tag.
        QueueIds.UseNodeTag(identity.QueueIdTagValue);
        services.AddSingleton(identity);
        services.TryAddSingleton<ClusterStore>();
        services.AddSingleton<IControlCommandHandler, ClusterControlCommand>();
        services.AddHostedService<ClusterHeartbeat>();
        return services;
    }
}
