// One owner's IStateStore in Redis, shared by every node; counters fall back to this node's memory when Redis is away.
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using StackExchange.Redis;

namespace Mta.Engine.Extensibility.State.Redis;

/// <summary>
/// An <see cref="IStateStore"/> in Redis under <c>KeyPrefix + owner + ":"</c> (e.g. <c>mta:script:rate-limit:</c>), so
/// every node that runs the same script or plugin shares its state. Values are JSON strings (System.Text.Json);
/// counters are Redis integers; sliding windows are sorted sets of hits scored by Redis's own clock (one clock for
/// every node). Each operation is one round trip (Lua for the compound ones), bounded by
/// <see cref="RedisStateResilience"/>.
/// <para>When Redis cannot answer: <see cref="IncrementAsync"/> and <see cref="CountInSlidingWindowAsync"/> count in
/// this node's memory instead (a local limit); <see cref="TryGetAsync{T}"/>, <see cref="SetAsync{T}"/>,
/// <see cref="SetIfAbsentAsync{T}"/> and <see cref="RemoveAsync"/> throw <see cref="StateUnavailableException"/>,
/// for the caller to fail open or closed.</para>
/// <para>The synchronous members never touch Redis, because a session must not block a thread on a socket: they are
/// served from this node's memory (the same store the fallback counts in), and the first such call of a store logs
/// a warning telling the author to use the asynchronous member.</para>
/// </summary>
public sealed partial class RedisStateStore : IStateStore
{
    // INCRBY, and a time to live set only on a key that has none (PEXPIRE NX, written for Redis before 7): the window
    // starts when the counter is created.
    private const string IncrementScript = """
        local value = redis.call('INCRBY', KEYS[1], ARGV[1])
        local ttl = tonumber(ARGV[2])
        if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ttl) end
        return value
        """;

    // Drops hits older than the window, adds the new ones (members unique per caller), keeps the key one window after
    // its newest hit, and counts. Time is Redis's, in microseconds.
    private const string SlidingWindowScript = """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local window = tonumber(ARGV[1])
        local hits = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
        if hits > 0 then
          for i = 1, hits do redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. i) end
          redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
        end
        return redis.call('ZCARD', KEYS[1])
        """;

    private static readonly string CallerId = Guid.NewGuid().ToString("N")[..12];
    private static long s_calls;

    private readonly RedisStateResilience _resilience;
    private readonly MemoryStateStore _local;
    private readonly ILogger _logger;
    private int _warnedSynchronous;

    /// <summary>Creates the store of <paramref name="owner"/> (<c>plugin:NAME</c>, <c>script:NAME</c>).</summary>
    /// <param name="resilience">The node's Redis pipeline (and connection).</param>
    /// <param name="owner">The owner; its keys live under <c>KeyPrefix + owner + ":"</c>.</param>
    /// <param name="local">This node's memory: the synchronous members and the counters' fallback.</param>
    /// <param name="logger">Where the first synchronous call is reported.</param>
    public RedisStateStore(RedisStateResilience resilience, string owner, MemoryStateStore local, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        _resilience = resilience;
        _local = local;
        _logger = logger;
        Owner = owner;
        KeyPrefix = resilience.Connection.KeyPrefix + owner + ":";
    }

    /// <summary>The owner this store belongs to.</summary>
    public string Owner { get; }

    /// <summary>Prefixed to every key of this store in Redis.</summary>
    public string KeyPrefix { get; }

    /// <summary>This node's memory behind the synchronous members and the counters' fallback.</summary>
    public MemoryStateStore Local => _local;

    /// <summary>Served from this node's memory (see the class remarks); use <see cref="TryGetAsync{T}"/> for Redis.</summary>
    public bool TryGet<T>(string key, out T? value)
    {
        WarnSynchronous(nameof(TryGet));
        return _local.TryGet(key, out value);
    }

    /// <summary>Served from this node's memory (see the class remarks); use <see cref="SetAsync{T}"/> for Redis.</summary>
    public void Set<T>(string key, T value, TimeSpan? timeToLive = null)
    {
        WarnSynchronous(nameof(Set));
        _local.Set(key, value, timeToLive);
    }

    /// <summary>Served from this node's memory (see the class remarks); use <see cref="RemoveAsync"/> for Redis.</summary>
    public bool Remove(string key)
    {
        WarnSynchronous(nameof(Remove));
        return _local.Remove(key);
    }

    /// <summary>Served from this node's memory (see the class remarks); use <see cref="IncrementAsync"/> for Redis.</summary>
    public long Increment(string key, long delta = 1, TimeSpan? timeToLive = null)
    {
        WarnSynchronous(nameof(Increment));
        return _local.Increment(key, delta, timeToLive);
    }

    /// <inheritdoc />
    public async ValueTask<(bool Found, T? Value)> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        var stored = await _resilience.ExecuteAsync(static (database, key) => database.StringGetAsync(key), KeyOf(key), cancellationToken)
            .ConfigureAwait(false);
        if (stored.IsNull) return (false, default);
        try
        {
            return (true, JsonSerializer.Deserialize<T>((string)stored!));
        }
        catch (JsonException)
        {
            // Stored as another type: as the memory store, that is "no value of this type".
            return (false, default);
        }
    }

    /// <inheritdoc />
    public async ValueTask SetAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ValidateTimeToLive(timeToLive);
        await _resilience.ExecuteAsync(static (database, call) => database.StringSetAsync(call.Key, call.Json, call.timeToLive, When.Always),
            (Key: KeyOf(key), Json: JsonSerializer.Serialize(value), timeToLive), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> SetIfAbsentAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ValidateTimeToLive(timeToLive);
        return _resilience.ExecuteAsync(static (database, call) => database.StringSetAsync(call.Key, call.Json, call.timeToLive, When.NotExists),
            (Key: KeyOf(key), Json: JsonSerializer.Serialize(value), timeToLive), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAsync(string key, CancellationToken cancellationToken = default)
        => _resilience.ExecuteAsync(static (database, key) => database.KeyDeleteAsync(key), KeyOf(key), cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long> IncrementAsync(string key, long delta = 1, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ValidateTimeToLive(timeToLive);
        var milliseconds = timeToLive is { } ttl ? (long)Math.Ceiling(ttl.TotalMilliseconds) : 0;
        try
        {
            var result = await _resilience.ExecuteAsync(static (database, call) =>
                    database.ScriptEvaluateAsync(IncrementScript, [call.Key], [call.delta, call.milliseconds]),
                (Key: KeyOf(key), delta, milliseconds), cancellationToken).ConfigureAwait(false);
            return (long)result;
        }
        catch (StateUnavailableException)
        {
            return _local.Increment(key, delta, timeToLive);
        }
    }

    /// <inheritdoc />
    public async ValueTask<long> CountInSlidingWindowAsync(string key, TimeSpan window, long hits = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (window <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(window), window, "a window must be positive");
        ArgumentOutOfRangeException.ThrowIfNegative(hits);
        var microseconds = (long)Math.Ceiling(window.TotalMicroseconds);
        var member = CallerId + ":" + Interlocked.Increment(ref s_calls).ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            var result = await _resilience.ExecuteAsync(static (database, call) =>
                    database.ScriptEvaluateAsync(SlidingWindowScript, [call.Key], [call.microseconds, call.hits, call.member]),
                (Key: KeyOf(key), microseconds, hits, member), cancellationToken).ConfigureAwait(false);
            return (long)result;
        }
        catch (StateUnavailableException)
        {
            return _local.CountInSlidingWindow(key, window, hits);
        }
    }

    private RedisKey KeyOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return KeyPrefix + key;
    }

    private static void ValidateTimeToLive(TimeSpan? timeToLive)
    {
        if (timeToLive is { } ttl && ttl <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(timeToLive), ttl, "a time to live must be positive");
    }

    private void WarnSynchronous(string member)
    {
        if (Interlocked.Exchange(ref _warnedSynchronous, 1) == 0) LogSynchronousCall(_logger, Owner, member);
    }

    [LoggerMessage(EventId = LogEvents.State.SynchronousCallServedLocally, Level = LogLevel.Warning,
        Message = "{Owner} called State.{Member} (synchronous) with State:Provider Redis: it is served from this node's memory and not shared with other nodes; call State.{Member}Async to use Redis")]
    private static partial void LogSynchronousCall(ILogger logger, string owner, string member);
}
