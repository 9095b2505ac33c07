// One state store per owner ("plugin:NAME", "script:NAME"), shared by the plugin loader and the script host.
using System.Collections.Concurrent;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.State;

/// <summary>
/// Hands out the <see cref="IStateStore"/> of an owner. Registered as a DI singleton; the same owner always gets
/// the same store, so a reloaded script keeps its counters. Owners are named <c>plugin:NAME</c> or <c>script:NAME</c>.
/// </summary>
public sealed class StateStoreProvider(TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, MemoryStateStore> _stores = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates a provider on the system clock.</summary>
    public StateStoreProvider() : this(TimeProvider.System) { }

    /// <summary>The store of <paramref name="owner"/>, created empty on first use.</summary>
    public IStateStore Get(string owner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        return _stores.GetOrAdd(owner, _ => new MemoryStateStore(timeProvider));
    }

    /// <summary>The owners that have a store, for diagnostics.</summary>
    public IReadOnlyCollection<string> Owners => _stores.Keys.ToArray();
}
