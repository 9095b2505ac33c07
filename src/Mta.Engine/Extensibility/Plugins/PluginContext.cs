// The IPluginContext handed to one plugin's Register call.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.Plugins;

/// <summary>
/// What one plugin sees of the host. Also an <see cref="IServiceProvider"/>: a plugin may ask it for
/// <see cref="TimeProvider"/> (the host's clock, faked in tests); other services are not part of the contract.
/// </summary>
public sealed class PluginContext : IPluginContext, IServiceProvider
{
    private readonly ExtensionRegistry _registry;
    private readonly TimeProvider _time;
    private readonly CountingRegistrar _hooks;
    // Staged until Register returns: a plugin that fails half-way must leave no agent or sink behind.
    private readonly List<(string Name, IDeliveryAgent Agent)> _agents = [];
    private readonly List<ITerminalSink> _sinks = [];

    internal PluginContext(string name, string directory, IConfiguration settings, IHookRegistrar hooks, IStateStore state,
        ILogger logger, IMessageSubmitter queue, IDnsResolver dns, ExtensionRegistry registry, TimeProvider time)
    {
        Name = name;
        Directory = directory;
        Settings = settings;
        _hooks = new CountingRegistrar(name, hooks);
        State = state;
        Logger = logger;
        Queue = queue;
        Dns = dns;
        _registry = registry;
        _time = time;
    }

    /// <inheritdoc />
    public string Name { get; }
    /// <inheritdoc />
    public string Directory { get; }
    /// <inheritdoc />
    public IConfiguration Settings { get; }
    /// <inheritdoc />
    public IHookRegistrar Hooks => _hooks;
    /// <inheritdoc />
    public IStateStore State { get; }
    /// <inheritdoc />
    public ILogger Logger { get; }
    /// <inheritdoc />
    public IMessageSubmitter Queue { get; }
    /// <inheritdoc />
    public IDnsResolver Dns { get; }

    /// <summary>The handler names registered so far, as the pipeline knows them (<c>NAME/handler</c>).</summary>
    public IReadOnlyList<string> RegisteredHooks => _hooks.Names;

    /// <summary>The delivery agents added so far.</summary>
    public IReadOnlyList<string> DeliveryAgents => _agents.Select(a => a.Name).ToArray();

    /// <summary>The number of terminal sinks added so far.</summary>
    public int TerminalSinks => _sinks.Count;

    /// <inheritdoc />
    public void AddDeliveryAgent(string name, IDeliveryAgent agent)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(agent);
        if (_registry.TryGetDeliveryAgent(name, out _) || _agents.Any(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase)))
            throw new InvalidOperationException($"a delivery agent named '{name}' is already registered");
        _agents.Add((name, agent));
    }

    /// <inheritdoc />
    public void AddTerminalSink(ITerminalSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _sinks.Add(sink);
    }

    /// <summary>Publishes the staged agents and sinks once Register has succeeded.</summary>
    internal void Commit()
    {
        foreach (var (name, agent) in _agents) _registry.AddDeliveryAgent(name, agent);
        foreach (var sink in _sinks) _registry.AddTerminalSink(sink);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType) => serviceType == typeof(TimeProvider) ? _time : null;

    /// <summary>Prefixes handler names with the plugin's name, so the pipeline's logs say whose handler failed.</summary>
    private sealed class CountingRegistrar(string plugin, IHookRegistrar inner) : IHookRegistrar
    {
        public List<string> Names { get; } = [];

        public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
        {
            var full = Qualify(name);
            inner.Register(full, hook);
            Names.Add($"{full} ({typeof(TContext).Name})");
        }

        public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
        {
            var full = Qualify(name);
            inner.Register(full, handler);
            Names.Add($"{full} ({typeof(TContext).Name})");
        }

        private string Qualify(string name)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            return name.StartsWith(plugin + "/", StringComparison.OrdinalIgnoreCase) ? name : plugin + "/" + name;
        }
    }
}
