// One Polly resilience pipeline per destination, from a registry: circuit breaker, retries, attempt timeout.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Polly.Retry;
using Polly.Timeout;

namespace Mta.Engine.Outbound;

/// <summary>
/// The resilience of delivery to one destination (a mail domain, or a smart host / transport-map next hop), built
/// on first use from <see cref="DestinationResilienceOptions"/>. Outer to inner:
/// <list type="number">
/// <item>a circuit breaker: when every attempt in the sampling window failed to reach the destination (and there were
/// at least a few — tuned for small destinations, unlike Polly's default of 100), the destination is taken for dead
/// and its mail is deferred without an attempt for the break duration, as Postfix's dead-destination cache does;</item>
/// <item>quick retries with exponential backoff and jitter, only while no transaction has started (nothing can be
/// delivered twice): connection refused, unreachable, a 4xx greeting, TLS or AUTH failures;</item>
/// <item>a timeout on each try.</item>
/// </list>
/// Per-recipient replies (a 4xx or 5xx to RCPT) are results, not failures: they never trip the breaker.
/// The long-term retry (minutes to days) is not here: it lives in the durable queue; nor is the number of deliveries
/// at once to a destination, which the queue's scheduler keeps (its per-destination window), so no delivery waits
/// inside a pipeline.
/// </summary>
internal sealed partial class DestinationPipelines
{
    private readonly DestinationResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipelineRegistry<string> _registry = new();
    private readonly ConcurrentDictionary<string, Lazy<DestinationState>> _states = new(StringComparer.OrdinalIgnoreCase);

    public DestinationPipelines(DestinationResilienceOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Destinations seen so far.</summary>
    public IEnumerable<DestinationState> Destinations => _states.Values.Select(l => l.Value);

    /// <summary>The destination's state and pipeline, created on first use.</summary>
    // Lazy: two workers reaching a new destination at once must end up with the one state its pipeline was built from.
    public DestinationState Get(string destination) =>
        _states.GetOrAdd(destination, d => new Lazy<DestinationState>(() => Create(d), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    /// <summary>The circuit of every destination seen, for the <c>mta.delivery.circuit.state</c> gauge: 0 closed, 2 open,
    /// 1 half-open (the break is over and the next attempt decides).</summary>
    public IEnumerable<System.Diagnostics.Metrics.Measurement<int>> CircuitStates()
    {
        var now = _time.GetUtcNow();
        foreach (var state in Destinations)
            yield return Telemetry.MtaMetrics.Circuit(state.Name, state.DeadUntil is not { } until ? 0 : until > now ? 2 : 1);
    }

    /// <summary>The destination's state if it has been used, without creating it (the operator's status looks, never builds).</summary>
    public DestinationState? Find(string destination) =>
        _states.TryGetValue(destination, out var state) && state.IsValueCreated ? state.Value : null;

    /// <summary>Closes the circuits of all destinations (or of the matching ones) so their mail is tried at once.</summary>
    public async Task ResetAsync(Func<string, bool>? match = null)
    {
        foreach (var state in Destinations)
        {
            if (match is not null && !match(state.Name)) continue;
            if (state.DeadUntil is null) continue;
            await state.Control.CloseAsync().ConfigureAwait(false);
            state.DeadUntil = null;
        }
    }

    private DestinationState Create(string destination)
    {
        var control = new CircuitBreakerManualControl();
        var state = new DestinationState(destination, control);
        state.Pipeline = _registry.GetOrAddPipeline(destination, (builder, _) =>
        {
            builder.TimeProvider = _time;
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = _options.BreakerMinimumThroughput,
                SamplingDuration = _options.BreakerSamplingDuration,
                BreakDuration = _options.BreakDuration,
                ManualControl = control,
                StateProvider = state.Circuit,
                ShouldHandle = new PredicateBuilder()
                    .Handle<SmtpSessionException>()
                    .Handle<DestinationUnreachableException>()
                    .Handle<TimeoutRejectedException>(),
                OnOpened = args =>
                {
                    state.DeadUntil = _time.GetUtcNow() + args.BreakDuration;
                    LogCircuitOpened(destination, args.BreakDuration, state.LastError ?? "-");
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    state.DeadUntil = null;
                    LogCircuitClosed(destination);
                    return ValueTask.CompletedTask;
                },
            });
            if (_options.ConnectRetries > 0)
            {
                builder.AddRetry(new RetryStrategyOptions
                {
                    MaxRetryAttempts = _options.ConnectRetries,
                    Delay = _options.ConnectRetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    // Only before MAIL: a retry after that could deliver the message twice.
                    ShouldHandle = new PredicateBuilder()
                        .Handle<SmtpSessionException>(e => !e.TransactionStarted)
                        .Handle<DestinationUnreachableException>(),
                    OnRetry = args =>
                    {
                        LogRetrying(destination, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message ?? "-");
                        return ValueTask.CompletedTask;
                    },
                });
            }
            builder.AddTimeout(_options.AttemptTimeout);
        });
        return state;
    }

    [LoggerMessage(EventId = LogEvents.Outbound.CircuitOpened, Level = LogLevel.Warning, Message = "Destination {Destination} is not responding: deferring its mail without attempts for {BreakDuration} (last error: {LastError})")]
    private partial void LogCircuitOpened(string destination, TimeSpan breakDuration, string lastError);

    [LoggerMessage(EventId = LogEvents.Outbound.CircuitClosed, Level = LogLevel.Information, Message = "Destination {Destination} is reachable again")]
    private partial void LogCircuitClosed(string destination);

    [LoggerMessage(EventId = LogEvents.Outbound.Retrying, Level = LogLevel.Debug, Message = "Destination {Destination}: try {Try} in {Delay} after: {Error}")]
    private partial void LogRetrying(string destination, int @try, TimeSpan delay, string error);
}

/// <summary>One destination: its pipeline and its health.</summary>
internal sealed class DestinationState(string name, CircuitBreakerManualControl control)
{
    public string Name { get; } = name;
    public ResiliencePipeline Pipeline { get; set; } = ResiliencePipeline.Empty;
    public CircuitBreakerManualControl Control { get; } = control;

    /// <summary>Why the last attempt failed, for the "not responding" deferrals and the operator.</summary>
    public string? LastError { get; set; }

    /// <summary>While the circuit is open: when it half-opens.</summary>
    public DateTimeOffset? DeadUntil { get; set; }

    /// <summary>The breaker's own view of its circuit, for the operator.</summary>
    public CircuitBreakerStateProvider Circuit { get; } = new();

    /// <summary>The circuit as the operator reads it: <c>closed</c>, <c>half-open</c> or <c>open</c> (isolated by hand counts as open).</summary>
    /// <remarks>The pipeline is built with the state, so its provider is bound by the time anyone can find the state.</remarks>
    public string CircuitName => Circuit.CircuitState switch
    {
        CircuitState.Open or CircuitState.Isolated => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "closed",
    };
}

/// <summary>No address of the destination accepted a session; the message says why for the last one tried.</summary>
internal sealed class DestinationUnreachableException(string message) : Exception(message);
