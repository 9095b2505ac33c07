// Ordered hook handlers per event, run with a time budget; a failing handler becomes 451 4.3.0.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Extensibility.Containment;

namespace Mta.Engine.Extensibility;

/// <summary>The result of running one event's handlers: the decision and who made it.</summary>
/// <param name="Result">The first non-Continue result, or Continue.</param>
/// <param name="HandlerName">The deciding handler, or null.</param>
/// <param name="Failed">True when the decision is the 451 given for a handler that threw or overran.</param>
public readonly record struct HookOutcome(HookResult Result, string? HandlerName, bool Failed)
{
    public bool IsContinue => Result.Decision == HookDecision.Continue;
}

/// <summary>
/// Holds the handlers registered for each hook context type, in registration order, and runs them.
/// Registration happens at start-up; running is lock-free (handlers are kept in immutable arrays).
/// </summary>
public sealed partial class HookPipeline : IHookRegistrar
{
    /// <summary>The reply for a handler that threw or timed out: fail closed, never open.</summary>
    public static readonly HookResult LocalPolicyError = HookResult.Defer("Local error in policy processing, try again later", 451, "4.3.0");

    private readonly ConcurrentDictionary<Type, object> _handlers = new();
    private readonly Lock _writeGate = new();
    private readonly ILogger _logger;
    private readonly TimeSpan _budget;
    private readonly Telemetry.MtaMetrics? _metrics;
    private long _sequence;

    public HookPipeline(ILogger<HookPipeline> logger, TimeSpan budget)
        : this(logger, budget, containment: null)
    {
    }

    /// <param name="logger">The failure lines.</param>
    /// <param name="budget">The default time budget of one call.</param>
    /// <param name="containment">Counts abandoned calls and takes runaway handlers out of service; null: none.</param>
    /// <param name="metrics">Where each call's duration and failure are measured; null: nowhere.</param>
    public HookPipeline(ILogger<HookPipeline> logger, TimeSpan budget, HookContainment? containment, Telemetry.MtaMetrics? metrics = null)
    {
        _metrics = metrics;
        _logger = logger;
        _budget = budget;
        Containment = containment;
    }

    /// <summary>The runaway guard, or null; script and server reloads put handlers back in service through it.</summary>
    public HookContainment? Containment { get; }

    /// <summary>Handlers registered in code run first, under this owner.</summary>
    public const string CodeOwner = "";

    public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
        => Add(CodeOwner, int.MinValue, _budget, name, hook);

    public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
        => Register(name, new DelegateHook<TContext>(handler));

    /// <summary>
    /// A registrar whose handlers belong to <paramref name="owner"/> (a plugin or script): they run after every
    /// handler of a lower <paramref name="order"/>, each call limited to <paramref name="budget"/> (or the default).
    /// </summary>
    public IHookRegistrar ForOwner(string owner, int order, TimeSpan? budget = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        return new OwnerRegistrar(this, owner, order, budget ?? _budget);
    }

    /// <summary>
    /// Swaps an owner's handlers for a new set (a reloaded script). Each event's handler array is replaced in one
    /// step; when <paramref name="register"/> throws, nothing is replaced and the old set stays.
    /// </summary>
    public void ReplaceOwner(string owner, int order, TimeSpan? budget, Action<IHookRegistrar> register)
    {
        var staged = new StagingRegistrar(owner, order, budget ?? _budget, this);
        register(staged);
        lock (_writeGate)
        {
            foreach (var type in _handlers.Keys.Union(staged.Entries.Keys).ToArray())
                staged.Apply(type, _handlers);
        }
    }

    /// <summary>Removes every handler of an owner.</summary>
    public void RemoveOwner(string owner) => ReplaceOwner(owner, 0, null, _ => { });

    private void Add<TContext>(string owner, int order, TimeSpan budget, string name, IHook<TContext> hook) where TContext : HookContext
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(hook);
        var entry = new NamedHook<TContext>(name, hook, owner, order, Interlocked.Increment(ref _sequence), budget);
        lock (_writeGate)
        {
            var existing = _handlers.TryGetValue(typeof(TContext), out var current) ? ((HandlerArray<TContext>)current).Items : [];
            _handlers[typeof(TContext)] = new HandlerArray<TContext>(Sorted(existing.Append(entry)));
        }
    }

    private static NamedHook<TContext>[] Sorted<TContext>(IEnumerable<NamedHook<TContext>> entries) where TContext : HookContext
        => entries.OrderBy(e => e.Order).ThenBy(e => e.Sequence).ToArray();

    /// <summary>True when at least one handler is registered for the event.</summary>
    public bool HasHandlers<TContext>() where TContext : HookContext => _handlers.ContainsKey(typeof(TContext));

    /// <summary>The handler names for an event, in the order they run.</summary>
    public IReadOnlyList<string> HandlerNames<TContext>() where TContext : HookContext
        => _handlers.TryGetValue(typeof(TContext), out var h) ? ((HandlerArray<TContext>)h).Items.Select(x => x.Name).ToArray() : [];

    /// <summary>Runs the handlers in order until one decides. Never throws except for caller cancellation.</summary>
    public ValueTask<HookOutcome> RunAsync<TContext>(TContext context, CancellationToken cancellationToken) where TContext : HookContext
    {
        if (!_handlers.TryGetValue(typeof(TContext), out var list))
            return ValueTask.FromResult(new HookOutcome(HookResult.Continue, null, false));
        return RunSlowAsync(((HandlerArray<TContext>)list).Items, context, cancellationToken);
    }

    /// <summary>Runs every handler of an observe-only event; results are ignored and failures only logged.</summary>
    public async ValueTask NotifyAsync<TContext>(TContext context, CancellationToken cancellationToken) where TContext : HookContext
    {
        if (!_handlers.TryGetValue(typeof(TContext), out var list)) return;
        foreach (var handler in ((HandlerArray<TContext>)list).Items)
        {
            var (result, _) = await InvokeOneAsync(handler, context, cancellationToken).ConfigureAwait(false);
            LogHandlerDecided(typeof(TContext).Name, handler.Name, result);
        }
    }

    private async ValueTask<HookOutcome> RunSlowAsync<TContext>(NamedHook<TContext>[] handlers, TContext context, CancellationToken cancellationToken)
        where TContext : HookContext
    {
        foreach (var handler in handlers)
        {
            var (result, failed) = await InvokeOneAsync(handler, context, cancellationToken).ConfigureAwait(false);
            LogHandlerDecided(typeof(TContext).Name, handler.Name, result);
            if (result.Decision != HookDecision.Continue)
                return new HookOutcome(result, handler.Name, failed);
        }
        return new HookOutcome(HookResult.Continue, null, false);
    }

    private ValueTask<(HookResult Result, bool Failed)> InvokeOneAsync<TContext>(NamedHook<TContext> handler, TContext context, CancellationToken cancellationToken)
        where TContext : HookContext
    {
        // Nobody listening (no SDK, no status view): no wrapper, so an asynchronous call costs no second state machine.
        if (_metrics is not { HooksEnabled: true } metrics) return InvokeCoreAsync(handler, context, cancellationToken);
        var started = metrics.HookDurationEnabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        var pending = InvokeCoreAsync(handler, context, cancellationToken);
        if (!pending.IsCompletedSuccessfully) return MeasuredAsync(pending, metrics, handler.Tags, started);
        var outcome = pending.Result;
        metrics.HookCall(handler.Tags, started, outcome.Failed);
        return ValueTask.FromResult(outcome);

        // Only a call that did not end at once pays for a second state machine.
        static async ValueTask<(HookResult Result, bool Failed)> MeasuredAsync(ValueTask<(HookResult Result, bool Failed)> pending,
            Telemetry.MtaMetrics metrics, Telemetry.HookTags tags, long started)
        {
            var outcome = await pending.ConfigureAwait(false);
            metrics.HookCall(tags, started, outcome.Failed);
            return outcome;
        }
    }

    private async ValueTask<(HookResult Result, bool Failed)> InvokeCoreAsync<TContext>(NamedHook<TContext> handler, TContext context, CancellationToken cancellationToken)
        where TContext : HookContext
    {
        // A handler out of service is never called: its earlier calls still run, abandoned.
        if (Containment?.IsOutOfService(handler.ContainmentKey) == true)
        {
            Containment.Skipped(handler.ContainmentKey, typeof(TContext).Name, SessionIdOf(context));
            return (LocalPolicyError, true);
        }
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(handler.Budget);
        Task<HookResult>? running = null;
        try
        {
            var pending = handler.Hook.InvokeAsync(context, budget.Token);
            if (pending.IsCompletedSuccessfully) return (pending.Result ?? HookResult.Continue, false);
            running = pending.AsTask();
            // WaitAsync lets the session go on even when a handler ignores its token and never returns.
            var result = await running.WaitAsync(handler.Budget, cancellationToken).ConfigureAwait(false);
            return (result ?? HookResult.Continue, false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away: a call that ignores its token runs on all the same.
            if (running is { IsCompleted: false } && Containment is { } guard)
                await guard.AbandonAsync(handler.ContainmentKey, typeof(TContext).Name, SessionIdOf(context), running).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            LogHandlerTimedOut(handler.Name, typeof(TContext).Name, SessionIdOf(context), QueueIdOf(context), handler.Budget.TotalMilliseconds);
            if (running is { IsCompleted: false } && Containment is { } guard)
                await guard.AbandonAsync(handler.ContainmentKey, typeof(TContext).Name, SessionIdOf(context), running).ConfigureAwait(false);
            return (LocalPolicyError, true);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(ex, handler.Name, typeof(TContext).Name, SessionIdOf(context), QueueIdOf(context), Scripts.ScriptErrors.WhereIn(ex));
            return (LocalPolicyError, true);
        }
    }

    /// <summary>The session a hook ran for, so a failure's log line can be matched with the session's; "-" outside one.</summary>
    private static string SessionIdOf(HookContext context) => context is SessionContext { Session: { } session } ? session.SessionId : "-";

    // The message a delivery-side hook is about, so its failure shows in a grep for the queue id (docs/operations.md#logs).
    private static string QueueIdOf(HookContext context) => context switch
    {
        RouteContext c => c.Message.QueueId,
        DeliverContext c => c.Message.QueueId,
        DeliveredContext c => c.Message.QueueId,
        DeferredContext c => c.Message.QueueId,
        BouncedContext c => c.Message.QueueId,
        _ => "-",
    };

    // Debug: one line per handler call, so that `mta test` (and MTA log level Debug) shows every decision, as haraka -t.
    [LoggerMessage(EventId = LogEvents.HookTrace.Decided, Level = LogLevel.Debug, Message = "Hook {Hook} handler {Handler}: {Result}")]
    private partial void LogHandlerDecided(string hook, string handler, HookResult result);

    // Location: " (at FILE:line N)" when a script threw, so its author is pointed at the line.
    [LoggerMessage(EventId = LogEvents.Hooks.HandlerFailed, Level = LogLevel.Error, Message = "Hook handler {Handler} failed on {Hook} in session {SessionId} message {QueueId}{Location}")]
    private partial void LogHandlerFailed(Exception exception, string handler, string hook, string sessionId, string queueId, string location);

    [LoggerMessage(EventId = LogEvents.Hooks.HandlerTimedOut, Level = LogLevel.Error, Message = "Hook handler {Handler} on {Hook} in session {SessionId} message {QueueId} overran its budget of {BudgetMs} ms and was abandoned")]
    private partial void LogHandlerTimedOut(string handler, string hook, string sessionId, string queueId, double budgetMs);

    private sealed record NamedHook<TContext>(string Name, IHook<TContext> Hook, string Owner, int Order, long Sequence, TimeSpan Budget)
        where TContext : HookContext
    {
        /// <summary>The metric tags of this handler's calls, made once.</summary>
        public Telemetry.HookTags Tags { get; } = new(typeof(TContext).Name, Name);

        /// <summary>What the runaway guard counts and takes out of service: the script or plugin, else the handler.</summary>
        public string ContainmentKey => Owner.Length > 0 ? Owner : Name;
    }

    private sealed class OwnerRegistrar(HookPipeline pipeline, string owner, int order, TimeSpan budget) : IHookRegistrar
    {
        public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
            => pipeline.Add(owner, order, budget, name, hook);

        public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
            => Register(name, new DelegateHook<TContext>(handler));
    }

    /// <summary>Collects an owner's new handlers, then swaps them in for the old ones per event type.</summary>
    private sealed class StagingRegistrar(string owner, int order, TimeSpan budget, HookPipeline pipeline) : IHookRegistrar
    {
        public Dictionary<Type, Action<ConcurrentDictionary<Type, object>>> Entries { get; } = [];
        private readonly Dictionary<Type, List<object>> _added = [];

        public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            ArgumentNullException.ThrowIfNull(hook);
            if (!_added.TryGetValue(typeof(TContext), out var list))
            {
                _added[typeof(TContext)] = list = [];
                Entries[typeof(TContext)] = handlers => Swap<TContext>(handlers);
            }
            list.Add(new NamedHook<TContext>(name, hook, owner, order, Interlocked.Increment(ref pipeline._sequence), budget));
        }

        public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
            => Register(name, new DelegateHook<TContext>(handler));

        public void Apply(Type type, ConcurrentDictionary<Type, object> handlers)
        {
            if (Entries.TryGetValue(type, out var swap)) swap(handlers);
            else RemoveFrom(type, handlers);
        }

        private void Swap<TContext>(ConcurrentDictionary<Type, object> handlers) where TContext : HookContext
        {
            var kept = handlers.TryGetValue(typeof(TContext), out var current)
                ? ((HandlerArray<TContext>)current).Items.Where(h => h.Owner != owner)
                : [];
            handlers[typeof(TContext)] = new HandlerArray<TContext>(Sorted(kept.Concat(_added[typeof(TContext)].Cast<NamedHook<TContext>>())));
        }

        private void RemoveFrom(Type type, ConcurrentDictionary<Type, object> handlers)
        {
            if (!handlers.TryGetValue(type, out var current)) return;
            var kept = ((IOwnedHandlers)current).WithoutOwner(owner);
            if (kept is null) handlers.TryRemove(type, out _);
            else handlers[type] = kept;
        }
    }

    /// <summary>Lets an owner's handlers be removed from an event's array without knowing its context type.</summary>
    private interface IOwnedHandlers
    {
        /// <summary>The array without the owner's handlers, or null when nothing is left.</summary>
        object? WithoutOwner(string owner);
    }

    private sealed class HandlerArray<TContext>(NamedHook<TContext>[] items) : IOwnedHandlers where TContext : HookContext
    {
        public NamedHook<TContext>[] Items { get; } = items;

        public object? WithoutOwner(string owner)
        {
            var kept = Items.Where(h => h.Owner != owner).ToArray();
            return kept.Length == 0 ? null : new HandlerArray<TContext>(kept);
        }
    }

    private sealed class DelegateHook<TContext>(Func<TContext, CancellationToken, ValueTask<HookResult>> handler) : IHook<TContext>
        where TContext : HookContext
    {
        public ValueTask<HookResult> InvokeAsync(TContext context, CancellationToken cancellationToken) => handler(context, cancellationToken);
    }
}
