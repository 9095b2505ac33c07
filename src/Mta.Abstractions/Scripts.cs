// The globals a C# policy script (.csx) sees: register handlers, read settings, keep state, log.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mta.Abstractions;

/// <summary>
/// The members a script calls without qualification. A script's top-level code runs once when it is
/// (re)loaded and registers its handlers with <c>On&lt;TContext&gt;(...)</c>; the handlers then run per event,
/// with the same contexts and results a plugin gets:
/// <code>
/// On&lt;RcptContext&gt;(ctx =&gt; ctx.Recipient.Address.LocalPart == "sales"
///     ? HookResult.Reject("No such user", 550, "5.1.1")
///     : HookResult.Continue);
/// </code>
/// Each handler call has the script time budget (<c>Scripts:Timeout</c>); over it the client gets 451 4.3.0.
/// </summary>
public abstract class ScriptGlobals
{
    /// <summary>The script's name: its file name without <c>.csx</c>.</summary>
    public abstract string ScriptName { get; }

    /// <summary>The script's settings: <c>Scripts:Settings:NAME</c> in mta.config.json.</summary>
    public abstract IConfiguration Settings { get; }

    /// <summary>State shared by every invocation of this script, kept across reloads.</summary>
    public abstract IStateStore State { get; }

    /// <summary>A logger named after the script.</summary>
    public abstract ILogger Log { get; }

    /// <summary>The server's DNS resolver (configured servers, shared TTL cache), e.g. for DNS blocklist lookups.</summary>
    public abstract IDnsResolver Dns { get; }

    /// <summary>Registers an asynchronous handler that honours the cancellation token.</summary>
    public abstract void On<TContext>(Func<TContext, CancellationToken, Task<HookResult>> handler) where TContext : HookContext;

    /// <summary>Registers an asynchronous handler.</summary>
    public void On<TContext>(Func<TContext, Task<HookResult>> handler) where TContext : HookContext
        => On<TContext>((context, _) => handler(context));

    /// <summary>Registers a synchronous handler.</summary>
    public void On<TContext>(Func<TContext, HookResult> handler) where TContext : HookContext
        => On<TContext>((context, _) => Task.FromResult(handler(context)));
}
