// The `cluster` control command: `mta status --cluster` asks the running node for the cluster as Redis holds it.
using Mta.Engine.Control;

namespace Mta.Engine.Cluster;

/// <summary>
/// <c>cluster</c>: no args. Response: one <see cref="ClusterView"/>, with <c>available</c> false and the reason when Redis
/// is not configured or does not answer (never an error: the command that asks still has the local status to show).
/// </summary>
public sealed class ClusterControlCommand(ClusterStore store) : IControlCommandHandler
{
    /// <summary>The command name on the wire.</summary>
    public const string CommandName = "cluster";

    /// <inheritdoc />
    public string Name => CommandName;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var view = await store.ReadAsync(cancellationToken).ConfigureAwait(false);
        await connection.SendAsync(view, ClusterJsonContext.Default.ClusterView, cancellationToken).ConfigureAwait(false);
    }
}
