// The one Redis connection of a node, shared by the state store and the cluster heartbeat; never waited on by a session.
using Mta.Engine.Configuration;
using StackExchange.Redis;

namespace Mta.Engine.Redis;

/// <summary>
/// This node's multiplexed connection to Redis (<c>State:Redis</c>). It connects in the background from construction
/// and reconnects by itself after an outage (StackExchange.Redis with <c>AbortOnConnectFail=false</c>), so a caller
/// asks <see cref="TryGetDatabase"/> and gets an answer at once: a database when connected, false otherwise.
/// </summary>
public sealed class RedisConnection : IAsyncDisposable
{
    private readonly Task<ConnectionMultiplexer?> _connecting;
    private volatile ConnectionMultiplexer? _multiplexer;

    /// <summary>Starts connecting when <c>State:Provider</c> is <c>Redis</c>; otherwise stays unconfigured.</summary>
    public RedisConnection(MtaOptions options)
    {
        var state = options.State;
        KeyPrefix = state.Redis.KeyPrefix;
        OperationTimeout = state.Redis.OperationTimeout;
        IsConfigured = state.Provider == StateProvider.Redis && !string.IsNullOrWhiteSpace(state.Redis.Configuration);
        _connecting = IsConfigured ? ConnectAsync(state.Redis) : Task.FromResult<ConnectionMultiplexer?>(null);
    }

    /// <summary>Whether this node is configured to use Redis at all.</summary>
    public bool IsConfigured { get; }

    /// <summary>Prefixed to every key (<c>State:Redis:KeyPrefix</c>).</summary>
    public string KeyPrefix { get; }

    /// <summary>The longest one operation may take (<c>State:Redis:OperationTimeout</c>).</summary>
    public TimeSpan OperationTimeout { get; }

    /// <summary>Whether a server is connected right now.</summary>
    public bool IsConnected => _multiplexer?.IsConnected == true;

    /// <summary>The database when a server is connected right now; never waits.</summary>
    public bool TryGetDatabase(out IDatabase database)
    {
        var multiplexer = _multiplexer;
        if (multiplexer is { IsConnected: true })
        {
            database = multiplexer.GetDatabase();
            return true;
        }
        database = null!;
        return false;
    }

    /// <summary>Waits, at most until <paramref name="cancellationToken"/> fires, for the first connection attempt to
    /// finish; for start-up code that would rather begin connected.</summary>
    public async ValueTask<bool> WaitForFirstAttemptAsync(CancellationToken cancellationToken)
    {
        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        return IsConnected;
    }

    private async Task<ConnectionMultiplexer?> ConnectAsync(RedisOptions redis)
    {
        var configuration = ConfigurationOptions.Parse(redis.Configuration!);
        // A node must start and serve mail with Redis down; the multiplexer keeps retrying in the background.
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)redis.ConnectTimeout.TotalMilliseconds;
        configuration.AsyncTimeout = Math.Max(1, (int)redis.OperationTimeout.TotalMilliseconds);
        configuration.SyncTimeout = configuration.AsyncTimeout;
        configuration.ClientName ??= "mta";
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        _multiplexer = multiplexer;
        return multiplexer;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        ConnectionMultiplexer? multiplexer;
        try { multiplexer = await _connecting.ConfigureAwait(false); }
        catch (RedisException) { return; }
        if (multiplexer is not null) await multiplexer.DisposeAsync().ConfigureAwait(false);
    }
}
