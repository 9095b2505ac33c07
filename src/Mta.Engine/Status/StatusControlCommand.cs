// The `status` control command: `mta status` asks the running server for its snapshot over the control socket.
using Mta.Engine.Control;

namespace Mta.Engine.Status;

/// <summary>
/// <c>status</c>: args <c>{"top":N}</c> (optional, the qshape table's domain rows; default
/// <see cref="ServerStatus.DefaultTopDomains"/>). Response: one <see cref="ServerStatusSnapshot"/>. Only the server's own
/// user and root may run it, as for <c>queue.list</c>: the qshape table names the domains the site mails.
/// </summary>
public sealed class StatusControlCommand(IServerStatus status) : IControlCommandHandler
{
    /// <summary>The command name on the wire.</summary>
    public const string CommandName = "status";

    // More rows than any screen shows; a bound so a typo cannot make one line of every domain of a huge queue.
    private const int MaxTopDomains = 1000;

    /// <inheritdoc />
    public string Name => CommandName;

    /// <inheritdoc />
    public Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var top = (int)Math.Min(request.GetInt64("top", ServerStatus.DefaultTopDomains), MaxTopDomains);
        return connection.SendAsync(status.Snapshot(top), StatusJsonContext.Default.ServerStatusSnapshot, cancellationToken);
    }
}
