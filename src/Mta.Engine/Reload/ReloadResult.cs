// What one reload did: applied (and by whom), or refused (and why), plus the changed keys that wait for a restart.
using System.Text.Json.Serialization;

namespace Mta.Engine.Reload;

/// <summary>The outcome of one reload, as logged and as <c>mta reload</c> prints it.</summary>
/// <param name="Applied">True when the new configuration is in service; false when it was refused and the old one stays.</param>
/// <param name="Source">The configuration file read.</param>
/// <param name="Reloaded">The components that took the new configuration (<see cref="Configuration.IReloadable.Name"/>).</param>
/// <param name="Errors">Why it was refused: every problem, each naming its key or component. Empty when applied.</param>
/// <param name="RestartKeys">Changed keys that take effect only at the next start.</param>
public sealed record ReloadResult(bool Applied, string Source, IReadOnlyList<string> Reloaded, IReadOnlyList<string> Errors,
    IReadOnlyList<string> RestartKeys);

/// <summary>Source-generated JSON for <see cref="ReloadResult"/> on the control socket.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReloadResult))]
public sealed partial class ReloadJsonContext : JsonSerializerContext;
