// A part of the running server that takes a new configuration without a restart (SIGHUP, `mta reload`).
namespace Mta.Engine.Configuration;

/// <summary>
/// A component that re-reads its settings or files on reload. The reload coordinator loads and validates the new
/// configuration first; only a configuration that passed is handed to <see cref="Reload"/>, in registration order.
/// Sessions already running keep what they started with; new sessions and deliveries see the new state.
/// </summary>
public interface IReloadable
{
    /// <summary>A short name for the reload log line (<c>aliases</c>, <c>tls certificate</c>, <c>users file</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Applies <paramref name="options"/> (already validated) and re-reads the files this component owns. Throws
    /// <see cref="StartupException"/> when a file it needs cannot be used; the component then keeps its old state.
    /// </summary>
    void Reload(MtaOptions options);
}
