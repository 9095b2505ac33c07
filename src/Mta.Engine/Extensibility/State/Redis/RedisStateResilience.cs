// Every Redis state call of a node goes through one pipeline: a timeout per call and a circuit breaker for outages.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Redis;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace Mta.Engine.Extensibility.State.Redis;

/// <summary>
/// Runs Redis state operations so that none holds a session longer than <c>State:Redis:OperationTimeout</c>: a
/// Polly timeout per call, inside a circuit breaker that, once Redis has failed a few calls in a row, answers
/// <see cref="StateUnavailableException"/> at once for <c>State:Redis:BreakDuration</c>, then lets one call probe
/// Redis again (half-open). Not being connected fails a call at once too, without a socket wait. One breaker per node,
/// shared by every owner's store, so the log says once per outage that Redis is gone (warning) and once that it is
/// back (information).
/// </summary>
public sealed partial class RedisStateResilience
{
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private int _unavailable;

    /// <summary>Creates the pipeline from <c>State:Redis</c> over <paramref name="connection"/>. Its timeouts run on the
    /// system clock, never on the host's <see cref="TimeProvider"/>: a socket does not wait on a test's fake clock.</summary>
    public RedisStateResilience(RedisConnection connection, Configuration.MtaOptions options, ILogger<RedisStateResilience>? logger = null)
    {
        Connection = connection;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        var redis = options.State.Redis;
        var builder = new ResiliencePipelineBuilder();
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsOutage),
            FailureRatio = 0.5,
            MinimumThroughput = 2,
            SamplingDuration = TimeSpan.FromSeconds(10),
            BreakDuration = redis.BreakDuration < TimeSpan.FromMilliseconds(500) ? TimeSpan.FromMilliseconds(500) : redis.BreakDuration,
            OnOpened = _ => { NoteUnavailable(); return default; },
            OnClosed = _ => { NoteAvailable(); return default; },
        });
        builder.AddTimeout(redis.OperationTimeout > TimeSpan.Zero ? redis.OperationTimeout : TimeSpan.FromMilliseconds(250));
        _pipeline = builder.Build();
    }

    /// <summary>The node's Redis connection.</summary>
    public RedisConnection Connection { get; }

    /// <summary>False from the moment the breaker opens (Redis down or too slow) until a call succeeds again.</summary>
    public bool IsAvailable => Volatile.Read(ref _unavailable) == 0;

    /// <summary>Runs <paramref name="operation"/> on the database, bounded by the timeout and the breaker.</summary>
    /// <exception cref="StateUnavailableException">Redis is not connected, too slow, or the breaker is open.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async ValueTask<TResult> ExecuteAsync<TResult, TState>(Func<IDatabase, TState, Task<TResult>> operation, TState state,
        CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.ExecuteAsync(static async (call, token) =>
            {
                if (!call.Connection.TryGetDatabase(out var database)) throw new NotConnectedException();
                // StackExchange.Redis takes no token: the wait is abandoned on timeout, the command completes or fails on its own.
                return await call.operation(database, call.state).WaitAsync(token).ConfigureAwait(false);
            }, (Connection, operation, state), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested && (IsOutage(exception) || exception is BrokenCircuitException))
        {
            throw new StateUnavailableException("the Redis state store is unavailable: " + exception.Message, exception);
        }
    }

    // Whether a failure says Redis is unreachable or slow (counted by the breaker), as opposed to a bad command.
    private static bool IsOutage(Exception exception) =>
        exception is NotConnectedException or RedisConnectionException or RedisTimeoutException or TimeoutRejectedException
            or TimeoutException or ObjectDisposedException;

    private void NoteUnavailable()
    {
        // The breaker reopens after every failed probe: only the first opening of an outage is news.
        if (Interlocked.Exchange(ref _unavailable, 1) == 0) LogUnavailable(_logger, Connection.KeyPrefix);
    }

    private void NoteAvailable()
    {
        if (Interlocked.Exchange(ref _unavailable, 0) == 1) LogAvailable(_logger, Connection.KeyPrefix);
    }

    [LoggerMessage(EventId = LogEvents.State.RedisUnavailable, Level = LogLevel.Warning,
        Message = "Redis state store unavailable (keys {KeyPrefix}*): rate limits count on this node alone, greylisting lets mail through, the AUTH failure limit counts locally, until Redis answers again")]
    private static partial void LogUnavailable(ILogger logger, string keyPrefix);

    [LoggerMessage(EventId = LogEvents.State.RedisAvailable, Level = LogLevel.Information,
        Message = "Redis state store available again (keys {KeyPrefix}*): state is shared with the other nodes")]
    private static partial void LogAvailable(ILogger logger, string keyPrefix);

    private sealed class NotConnectedException() : Exception("not connected to Redis");
}
