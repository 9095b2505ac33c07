// The milters each listener runs, resolved once from the configuration: names to definitions and parsed addresses.
using Mta.Engine.Configuration;

namespace Mta.Engine.Milter;

/// <summary>Per listener, its milters in order (<c>Listeners[i].Milters</c> looked up in <c>Milters:Definitions</c>).</summary>
internal sealed class MilterRegistry
{
    private readonly Dictionary<string, (string Name, MilterDefinition Definition, MilterAddress Address)[]> _byListener = new(StringComparer.Ordinal);

    /// <summary>Resolves every listener's list; names and addresses were checked by <see cref="MtaOptionsValidator"/>,
    /// so one that still does not resolve is skipped here rather than failing sessions.</summary>
    public MilterRegistry(MtaOptions options)
    {
        foreach (var listener in options.Listeners)
        {
            var milters = new List<(string, MilterDefinition, MilterAddress)>();
            foreach (var name in listener.Milters)
            {
                if (name is null || !options.Milters.Definitions.TryGetValue(name, out var definition) || definition is null) continue;
                if (!MilterAddress.TryParse(definition.Address, out var address, out _)) continue;
                milters.Add((name, definition, address));
            }
            if (milters.Count > 0) _byListener[listener.Name] = [.. milters];
        }
    }

    /// <summary>The listener's milters in order, or null when it runs none.</summary>
    public IReadOnlyList<(string Name, MilterDefinition Definition, MilterAddress Address)>? For(string listener) =>
        _byListener.TryGetValue(listener, out var milters) ? milters : null;
}
