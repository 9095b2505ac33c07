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

    /// <summary>
    /// The script's settings: <c>Scripts:Settings:KEY</c> in mta.config.json, where KEY is the script's name without its
    /// order prefix (<c>10-blocklist.csx</c> reads <c>Scripts:Settings:blocklist</c>), so that renumbering a script
    /// does not move its settings. The section under the full name (<c>Scripts:Settings:10-blocklist</c>) is read too,
    /// as a fallback for each key the shorter one does not set. A read-only <c>Server</c> section holds the server's
    /// HostName and LocalDomains.
    /// </summary>
    public abstract IConfiguration Settings { get; }

    /// <summary>The folder the script file is in, as an absolute path. Files the script reads (lists, templates) live
    /// beside it; <see cref="ResolvePath"/> makes their paths absolute.</summary>
    public abstract string ScriptDirectory { get; }

    /// <summary>
    /// Resolves a path the way a script means it: relative to <see cref="ScriptDirectory"/>, not to the server's working
    /// directory (which depends on how the server was started). An absolute path comes back unchanged.
    /// </summary>
    /// <param name="relativePath">A path such as <c>data/blocklist.txt</c>.</param>
    /// <returns>The absolute, normalised path.</returns>
    public string ResolvePath(string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        return System.IO.Path.GetFullPath(System.IO.Path.Combine(ScriptDirectory, relativePath));
    }

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
