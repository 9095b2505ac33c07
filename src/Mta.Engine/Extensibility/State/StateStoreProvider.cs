// One state store per owner ("plugin:NAME", "script:NAME"), shared by the plugin loader and the script host.
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Extensibility.State.Redis;

namespace Mta.Engine.Extensibility.State;

/// <summary>
/// Hands out the <see cref="IStateStore"/> of an owner. Registered as a DI singleton; the same owner always gets
/// the same store, so a reloaded script keeps its counters. Owners are named <c>plugin:NAME</c> or <c>script:NAME</c>
/// (the engine's own users <c>engine:NAME</c>). With <c>State:Provider</c> <c>Redis</c> the stores are
/// <see cref="RedisStateStore"/>s keyed under <c>KeyPrefix + owner + ":"</c>, so two nodes running the same script
/// share its counters; otherwise <see cref="MemoryStateStore"/>s.
/// </summary>
public sealed class StateStoreProvider
{
    private readonly ConcurrentDictionary<string, IStateStore> _stores = new(StringComparer.OrdinalIgnoreCase);
    private readonly TimeProvider _timeProvider;
    private readonly RedisStateResilience? _redis;
    private readonly ILoggerFactory _loggers;

    /// <summary>Creates a provider of memory stores on the system clock.</summary>
    public StateStoreProvider() : this(TimeProvider.System) { }

    /// <summary>Creates a provider of memory stores on <paramref name="timeProvider"/>.</summary>
    public StateStoreProvider(TimeProvider timeProvider) : this(timeProvider, null, null) { }

    /// <summary>Creates a provider of Redis stores when <paramref name="redis"/> is given and its connection is
    /// configured (<c>State:Provider</c> <c>Redis</c>), else of memory stores.</summary>
    public StateStoreProvider(TimeProvider timeProvider, RedisStateResilience? redis, ILoggerFactory? loggers)
    {
        _timeProvider = timeProvider;
        _redis = redis is { Connection.IsConfigured: true } ? redis : null;
        _loggers = loggers ?? NullLoggerFactory.Instance;
    }

    /// <summary>The provider for a service container: Redis stores when the engine's Redis pipeline is registered and configured.</summary>
    public static StateStoreProvider Create(IServiceProvider services) =>
        new(services.GetService<TimeProvider>() ?? TimeProvider.System, services.GetService<RedisStateResilience>(),
            services.GetService<ILoggerFactory>());

    /// <summary>Whether the stores handed out live in Redis.</summary>
    public bool IsShared => _redis is not null;

    /// <summary>The store of <paramref name="owner"/>, created empty on first use.</summary>
    public IStateStore Get(string owner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        return _stores.GetOrAdd(owner, static (name, provider) => provider.Create(name), this);
    }

    /// <summary>The owners that have a store, for diagnostics.</summary>
    public IReadOnlyCollection<string> Owners => _stores.Keys.ToArray();

    private IStateStore Create(string owner)
    {
        var local = new MemoryStateStore(_timeProvider);
        return _redis is null
            ? local
            : new RedisStateStore(_redis, owner, local, _loggers.CreateLogger("Mta.Engine.Extensibility.State"));
    }
}
