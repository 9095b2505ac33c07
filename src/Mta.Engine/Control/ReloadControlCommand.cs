// The `reload` control command: `mta reload` runs the same reload as SIGHUP and gets its outcome.
using Mta.Engine.Reload;

namespace Mta.Engine.Control;

/// <summary><c>reload</c>: no args. Response: <see cref="ReloadResult"/> (applied or refused, with every error). Only
/// the server's own user and root may run it.</summary>
public sealed class ReloadControlCommand(ReloadCoordinator coordinator) : IControlCommandHandler
{
    /// <summary>The command name on the wire.</summary>
    public const string CommandName = "reload";

    /// <inheritdoc />
    public string Name => CommandName;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var result = await coordinator.ReloadAsync(cancellationToken).ConfigureAwait(false);
        await connection.SendAsync(result, ReloadJsonContext.Default.ReloadResult, cancellationToken).ConfigureAwait(false);
    }
}
