// Ordered hook handlers per event, run with a time budget; a failing handler becomes 451 4.3.0.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

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
    private readonly ILogger _logger;
    private readonly TimeSpan _budget;

    public HookPipeline(ILogger<HookPipeline> logger, TimeSpan budget)
    {
        _logger = logger;
        _budget = budget;
    }

    public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(hook);
        _handlers.AddOrUpdate(typeof(TContext),
            _ => new[] { new NamedHook<TContext>(name, hook) },
            (_, existing) => ((NamedHook<TContext>[])existing).Append(new NamedHook<TContext>(name, hook)).ToArray());
    }

    public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
        => Register(name, new DelegateHook<TContext>(handler));

    /// <summary>True when at least one handler is registered for the event.</summary>
    public bool HasHandlers<TContext>() where TContext : HookContext => _handlers.ContainsKey(typeof(TContext));

    /// <summary>The handler names for an event, in the order they run.</summary>
    public IReadOnlyList<string> HandlerNames<TContext>() where TContext : HookContext
        => _handlers.TryGetValue(typeof(TContext), out var h) ? ((NamedHook<TContext>[])h).Select(x => x.Name).ToArray() : [];

    /// <summary>Runs the handlers in order until one decides. Never throws except for caller cancellation.</summary>
    public ValueTask<HookOutcome> RunAsync<TContext>(TContext context, CancellationToken cancellationToken) where TContext : HookContext
    {
        if (!_handlers.TryGetValue(typeof(TContext), out var list))
            return ValueTask.FromResult(new HookOutcome(HookResult.Continue, null, false));
        return RunSlowAsync((NamedHook<TContext>[])list, context, cancellationToken);
    }

    /// <summary>Runs every handler of an observe-only event; results are ignored and failures only logged.</summary>
    public async ValueTask NotifyAsync<TContext>(TContext context, CancellationToken cancellationToken) where TContext : HookContext
    {
        if (!_handlers.TryGetValue(typeof(TContext), out var list)) return;
        foreach (var handler in (NamedHook<TContext>[])list)
            await InvokeOneAsync(handler, context, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<HookOutcome> RunSlowAsync<TContext>(NamedHook<TContext>[] handlers, TContext context, CancellationToken cancellationToken)
        where TContext : HookContext
    {
        foreach (var handler in handlers)
        {
            var (result, failed) = await InvokeOneAsync(handler, context, cancellationToken).ConfigureAwait(false);
            if (result.Decision != HookDecision.Continue)
                return new HookOutcome(result, handler.Name, failed);
        }
        return new HookOutcome(HookResult.Continue, null, false);
    }

    private async ValueTask<(HookResult Result, bool Failed)> InvokeOneAsync<TContext>(NamedHook<TContext> handler, TContext context, CancellationToken cancellationToken)
        where TContext : HookContext
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_budget);
        try
        {
            var pending = handler.Hook.InvokeAsync(context, budget.Token);
            // WaitAsync lets the session go on even when a handler ignores its token and never returns.
            var result = pending.IsCompletedSuccessfully
                ? pending.Result
                : await pending.AsTask().WaitAsync(_budget, cancellationToken).ConfigureAwait(false);
            return (result ?? HookResult.Continue, false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            LogHandlerTimedOut(handler.Name, typeof(TContext).Name, _budget.TotalMilliseconds);
            return (LocalPolicyError, true);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(ex, handler.Name, typeof(TContext).Name);
            return (LocalPolicyError, true);
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Error, Message = "Hook handler {Handler} failed on {Hook}")]
    private partial void LogHandlerFailed(Exception exception, string handler, string hook);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Hook handler {Handler} on {Hook} overran its budget of {BudgetMs} ms and was abandoned")]
    private partial void LogHandlerTimedOut(string handler, string hook, double budgetMs);

    private sealed record NamedHook<TContext>(string Name, IHook<TContext> Hook) where TContext : HookContext;

    private sealed class DelegateHook<TContext>(Func<TContext, CancellationToken, ValueTask<HookResult>> handler) : IHook<TContext>
        where TContext : HookContext
    {
        public ValueTask<HookResult> InvokeAsync(TContext context, CancellationToken cancellationToken) => handler(context, cancellationToken);
    }
}
