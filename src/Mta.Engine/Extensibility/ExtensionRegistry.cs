// Delivery agents and terminal sinks that plugins add, looked up by the queue manager.
using System.Collections.Concurrent;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility;

public sealed class ExtensionRegistry
{
    private readonly ConcurrentDictionary<string, IDeliveryAgent> _agents = new(StringComparer.OrdinalIgnoreCase);
    private ITerminalSink[] _sinks = [];
    private readonly Lock _gate = new();

    public void AddDeliveryAgent(string name, IDeliveryAgent agent)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(agent);
        if (!_agents.TryAdd(name, agent)) throw new InvalidOperationException($"a delivery agent named '{name}' is already registered");
    }

    public bool TryGetDeliveryAgent(string name, out IDeliveryAgent agent) => _agents.TryGetValue(name, out agent!);

    public void AddTerminalSink(ITerminalSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (_gate) _sinks = [.. _sinks, sink];
    }

    public IReadOnlyList<ITerminalSink> TerminalSinks => _sinks;
}
