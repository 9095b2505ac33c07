// The ScriptGlobals a script's top-level code runs with: it collects the script's On<...> registrations.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>
/// One per script generation. Handlers are only collected here; the host swaps them into the pipeline in one step
/// after the whole top-level code has run, so a script that throws half-way registers nothing.
/// </summary>
internal sealed class HostScriptGlobals(string name, string directory, IConfiguration settings, IStateStore state, ILogger log, IDnsResolver dns)
    : ScriptGlobals
{
    private readonly List<Action<IHookRegistrar>> _registrations = [];
    private volatile bool _closed;

    public override string ScriptName => name;
    public override IConfiguration Settings => settings;
    public override string ScriptDirectory => directory;
    public override IStateStore State => state;
    public override ILogger Log => log;
    public override IDnsResolver Dns => dns;

    /// <summary>The handler name in logs and in the pipeline: <c>script:NAME</c>.</summary>
    public string HandlerName => ScriptHost.OwnerOf(name);

    public override void On<TContext>(Func<TContext, CancellationToken, Task<HookResult>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_closed)
            throw new InvalidOperationException($"script {name}: On<{typeof(TContext).Name}> may only be called by the script's top-level code while it loads");
        if (typeof(TContext).IsAbstract)
            throw new ArgumentException($"script {name}: On<{typeof(TContext).Name}> is never raised; use a concrete context such as RcptContext");
        var hookName = HandlerName;
        lock (_registrations) _registrations.Add(registrar => registrar.Register<TContext>(hookName, Offloaded(handler)));
    }

    /// <summary>Ends registration and returns what the top-level code registered.</summary>
    public IReadOnlyList<Action<IHookRegistrar>> Close()
    {
        _closed = true;
        lock (_registrations) return _registrations.ToArray();
    }

    // The call starts on a thread-pool thread: a handler that spins before its first await (a CPU loop that never
    // looks at its token) then blocks only that thread, and the pipeline's budget still answers the session 451.
    private static Func<TContext, CancellationToken, ValueTask<HookResult>> Offloaded<TContext>(Func<TContext, CancellationToken, Task<HookResult>> handler)
        => (context, cancellationToken) => new ValueTask<HookResult>(Task.Run(() => handler(context, cancellationToken), cancellationToken));
}
