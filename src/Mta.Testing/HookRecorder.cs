// Calls a plugin's hook handlers without a server: the recorder takes the place of the host's registrar.
using Mta.Abstractions;

namespace Mta.Testing;

/// <summary>One handler a plugin registered with a <see cref="HookRecorder"/>.</summary>
/// <param name="Name">The name it was registered under.</param>
/// <param name="ContextType">The hook it handles, e.g. <see cref="RcptContext"/>.</param>
public sealed record RecordedHandler(string Name, Type ContextType)
{
    internal Func<HookContext, CancellationToken, ValueTask<HookResult>> Invoke { get; init; } = (_, _) => ValueTask.FromResult(HookResult.Continue);
}

/// <summary>One call of a handler through a <see cref="HookRecorder"/> and what it decided.</summary>
/// <param name="Handler">The handler's name.</param>
/// <param name="Context">The context it was called with.</param>
/// <param name="Result">Its decision.</param>
public sealed record HookCall(string Handler, HookContext Context, HookResult Result);

/// <summary>
/// An <see cref="IHookRegistrar"/> that keeps what is registered, so that a test can call one handler (or all handlers of
/// a hook, in order, as the server does) with a context built by hand, and see every decision in <see cref="Calls"/>.
/// </summary>
public sealed class HookRecorder : IHookRegistrar
{
    private readonly List<RecordedHandler> _handlers = [];
    private readonly List<HookCall> _calls = [];

    /// <summary>Every registered handler, in registration order.</summary>
    public IReadOnlyList<RecordedHandler> Handlers => _handlers;

    /// <summary>Every call made through <see cref="InvokeAsync{TContext}"/> or <see cref="RunAsync{TContext}"/>, in order.</summary>
    public IReadOnlyList<HookCall> Calls => _calls;

    /// <inheritdoc/>
    public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext
    {
        ArgumentNullException.ThrowIfNull(hook);
        Register<TContext>(name, hook.InvokeAsync);
    }

    /// <inheritdoc/>
    public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(new RecordedHandler(name, typeof(TContext)) { Invoke = (context, token) => handler((TContext)context, token) });
    }

    /// <summary>Calls the one handler of <typeparamref name="TContext"/> registered as <paramref name="name"/>.</summary>
    /// <exception cref="InvalidOperationException">No such handler, or more than one.</exception>
    public async Task<HookResult> InvokeAsync<TContext>(string name, TContext context, CancellationToken cancellationToken = default)
        where TContext : HookContext
    {
        var matches = _handlers.Where(h => h.ContextType == typeof(TContext) && h.Name == name).ToList();
        if (matches.Count != 1)
            throw new InvalidOperationException($"{matches.Count} handlers of {typeof(TContext).Name} are named '{name}'; registered: {Describe()}");
        return await CallAsync(matches[0], context, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Calls the handlers of <typeparamref name="TContext"/> in registration order until one decides, as the
    /// server does; <see cref="HookResult.Continue"/> when none does (or none is registered).</summary>
    public async Task<HookResult> RunAsync<TContext>(TContext context, CancellationToken cancellationToken = default) where TContext : HookContext
    {
        foreach (var handler in _handlers.Where(h => h.ContextType == typeof(TContext)).ToList())
        {
            var result = await CallAsync(handler, context, cancellationToken).ConfigureAwait(false);
            if (result.Decision != HookDecision.Continue) return result;
        }
        return HookResult.Continue;
    }

    private async Task<HookResult> CallAsync(RecordedHandler handler, HookContext context, CancellationToken cancellationToken)
    {
        // A handler may return null from a script's point of view; the server reads that as Continue, and so does this.
        var result = await handler.Invoke(context, cancellationToken).ConfigureAwait(false) ?? HookResult.Continue;
        _calls.Add(new HookCall(handler.Name, context, result));
        return result;
    }

    private string Describe() =>
        _handlers.Count == 0 ? "none" : string.Join(", ", _handlers.Select(h => $"{h.ContextType.Name}:{h.Name}"));
}
