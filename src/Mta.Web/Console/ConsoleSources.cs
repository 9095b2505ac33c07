// What the console reads from the engine: the queue, and the status services when the engine has them.
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Control;
using Mta.Engine.Status;

namespace Mta.Web.Console;

/// <summary>The engine's read side as the pages use it.</summary>
internal sealed class ConsoleSources(IServiceProvider engine)
{
    public IQueueAdministration Queue { get; } = engine.GetRequiredService<IQueueAdministration>();

    /// <summary>The server's status (overview), or null when the engine was built without it.</summary>
    public IServerStatus? Status { get; } = engine.GetService<IServerStatus>();

    /// <summary>The destinations' state, or null when the engine has none.</summary>
    public IDestinationStatus? Destinations { get; } = engine.GetService<IDestinationStatus>();

    /// <summary>The latest delivery attempts, or null when the engine keeps none.</summary>
    public IRecentDeliveries? Deliveries { get; } = engine.GetService<IRecentDeliveries>();

    /// <summary>The cluster's heartbeats in Redis, or null when the engine was built without the cluster side.</summary>
    public Engine.Cluster.ClusterStore? Cluster { get; } = engine.GetService<Engine.Cluster.ClusterStore>();
}
