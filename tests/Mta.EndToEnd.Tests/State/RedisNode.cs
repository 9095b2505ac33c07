// One "node" of the Redis state tests: its own connection (multiplexer), breaker, log and store provider, as one Mta process has.
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.State;
using Mta.Engine.Extensibility.State.Redis;
using Mta.Engine.Redis;

namespace Mta.EndToEnd.Tests.State;

/// <summary>One "node": its own Redis connection (multiplexer), breaker and store provider, as one Mta process has.</summary>
internal sealed class RedisNode : IAsyncDisposable
{
    private readonly RedisConnection _connection;
    private readonly StateStoreProvider _provider;

    private RedisNode(RedisConnection connection, RedisStateResilience resilience, LogRecorder log)
    {
        _connection = connection;
        Resilience = resilience;
        Log = log;
        _provider = new StateStoreProvider(TimeProvider.System, resilience, log);
    }

    public RedisStateResilience Resilience { get; }
    public LogRecorder Log { get; }

    public static async Task<RedisNode> StartAsync(RedisServer redis, TimeSpan? operationTimeout = null)
    {
        var options = new MtaOptions
        {
            State = new StateOptions
            {
                Provider = StateProvider.Redis,
                Redis = new RedisOptions { Configuration = redis.Configuration, OperationTimeout = operationTimeout ?? TimeSpan.FromMilliseconds(250), BreakDuration = TimeSpan.FromSeconds(1) },
            },
        };
        var connection = new RedisConnection(options);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True(await connection.WaitForFirstAttemptAsync(cts.Token), "connected to " + redis.Configuration);
        var log = new LogRecorder();
        return new RedisNode(connection, new RedisStateResilience(connection, options, log.CreateLogger<RedisStateResilience>()), log);
    }

    public IStateStore Store(string owner) => _provider.Get(owner);

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
