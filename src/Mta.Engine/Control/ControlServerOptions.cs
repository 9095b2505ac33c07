// The control socket's limits (the "Control" section): request size, timeouts, and connection slots with some kept for the operator.
namespace Mta.Engine.Control;

/// <summary>Limits of the control socket (<c>Control</c>); the defaults suit an operator's CLI and a handful of terminal clients.</summary>
public sealed class ControlServerOptions
{
    /// <summary>Longest request line in bytes, without its newline; longer lines are answered <c>too_long</c> and skipped.
    /// Defaults to 65536.</summary>
    public int MaxRequestLineBytes { get; set; } = 64 * 1024;

    /// <summary>How long a connection may wait between requests before the server closes it (not while a command runs).
    /// Defaults to 30 s.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one response line may wait for the client to read, before the connection is dropped. Defaults to 30 s.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Control connections served at once, all users; one more is answered <c>busy</c> and closed. Defaults to 32.</summary>
    public int MaxConnections { get; set; } = 32;

    /// <summary>Connections at once from one uid other than the server's own and root (a user's <c>mta terminal</c>
    /// windows), so that no local user can take every connection; one more is answered <c>busy</c>. Defaults to 8.</summary>
    public int MaxConnectionsPerUser { get; set; } = 8;

    /// <summary>Of <see cref="MaxConnections"/>, the slots only root and the server's own uid may use, so that local users
    /// together (each within <see cref="MaxConnectionsPerUser"/>) cannot lock the operator out of <c>mta queue</c> or
    /// <c>mta stop</c>. Defaults to 4; less than <see cref="MaxConnections"/>.</summary>
    public int ReservedConnections { get; set; } = 4;
}
