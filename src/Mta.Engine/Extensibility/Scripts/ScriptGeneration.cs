// One loaded version of a script: its assembly in a collectible load context and the handlers it registered.
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>
/// A script generation. Roslyn's own runner loads each submission into a context that is never unloaded, so every
/// reload would leak an assembly; here each generation gets its own collectible context, unloaded once its
/// handlers have been swapped out. Nothing else may keep a reference to the script's types.
/// </summary>
internal sealed class ScriptGeneration
{
    private ScriptGeneration(string name, int number, AssemblyLoadContext context, IReadOnlyList<Action<IHookRegistrar>> registrations,
        IReadOnlyList<string> files)
    {
        Name = name;
        Number = number;
        Context = context;
        Registrations = registrations;
        Files = files;
    }

    public string Name { get; }
    public int Number { get; }
    public AssemblyLoadContext Context { get; }
    /// <summary>Adds the generation's handlers to a registrar (applied again when the script order changes).</summary>
    public IReadOnlyList<Action<IHookRegistrar>> Registrations { get; }
    /// <summary>The script and its #load-ed files.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Loads a compiled script into a new collectible context and runs its top-level code with
    /// <paramref name="globals"/>. On failure the context is unloaded and the exception is thrown.</summary>
    /// <param name="compiled">A successfully compiled script.</param>
    /// <param name="number">The generation number, for the context's name and logs.</param>
    /// <param name="globals">The globals the top-level code registers its handlers on.</param>
    /// <param name="loadTimeout">How long the top-level code may run.</param>
    /// <param name="cancellationToken">Stops waiting for the top-level code (the server is stopping).</param>
    /// <exception cref="ScriptLoadException">The top-level code threw or overran <paramref name="loadTimeout"/>.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static async Task<ScriptGeneration> LoadAsync(CompiledScript compiled, int number, HostScriptGlobals globals, TimeSpan loadTimeout,
        CancellationToken cancellationToken = default)
    {
        if (!compiled.Succeeded || compiled.Image is null) throw new ArgumentException("the script did not compile", nameof(compiled));
        // Load() is not overridden: every dependency (Mta.Abstractions, MimeKit, the BCL) falls back to the default
        // context, so the script sees the host's own types.
        var context = new AssemblyLoadContext($"{ScriptHost.OwnerOf(compiled.Name)}#{number}", isCollectible: true);
        var topLevel = StartTopLevel(context, compiled, globals);
        try
        {
            await topLevel.WaitAsync(loadTimeout, cancellationToken).ConfigureAwait(false);
            return new ScriptGeneration(compiled.Name, number, context, globals.Close(), compiled.Files);
        }
        catch (TimeoutException) when (!topLevel.IsCompleted)
        {
            Abandon(context, globals);
            throw new ScriptLoadException(
                $"script {compiled.Name}: top-level code did not finish within {loadTimeout.TotalSeconds:0.#} s (Scripts:LoadTimeout); it was abandoned and runs on until the process ends")
            {
                TimedOut = true,
            };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Abandon(context, globals);
            throw;
        }
        catch (Exception ex)
        {
            Abandon(context, globals);
            if (ex is TargetInvocationException { InnerException: { } inner }) ex = inner;
            throw new ScriptLoadException($"script {compiled.Name}: top-level code threw {ex.GetType().Name}: {ex.Message}{ScriptErrors.WhereIn(ex)}", ex);
        }
    }

    private static void Abandon(AssemblyLoadContext context, HostScriptGlobals globals)
    {
        // Registrations made after this point are refused. A context whose code still runs is only collected once it ends.
        globals.Close();
        context.Unload();
    }

    /// <summary>
    /// Runs the top-level code on a thread of its own and returns at once. Run on the caller's thread, a top-level loop
    /// would never hand control back, so no timeout could fire (and the load lock, start-up and SIGTERM would wait for
    /// ever). A background thread: one that never ends does not keep the process alive.
    /// </summary>
    private static Task StartTopLevel(AssemblyLoadContext context, CompiledScript compiled, ScriptGlobals globals)
    {
        var started = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                started.SetResult(RunTopLevel(context, compiled, globals));
            }
            catch (Exception ex)
            {
                started.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "script load " + compiled.Name,
        };
        thread.Start();
        return started.Task.Unwrap();
    }

    private static Task RunTopLevel(AssemblyLoadContext context, CompiledScript compiled, ScriptGlobals globals)
    {
        using var image = new MemoryStream(compiled.Image!, writable: false);
        using var symbols = compiled.Symbols is null ? null : new MemoryStream(compiled.Symbols, writable: false);
        var assembly = context.LoadFromStream(image, symbols);
        var type = assembly.GetType(compiled.EntryType!, throwOnError: true)!;
        var factory = type.GetMethod(compiled.EntryMethod!, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new MissingMethodException(type.FullName, compiled.EntryMethod);
        // The submission array: slot 0 holds the globals, slot 1 receives this submission's instance.
        return (Task)factory.Invoke(null, [new object?[] { globals, null }])!;
    }

    /// <summary>Unloads the context; it is collected once no handler call is still running in it.</summary>
    public void Unload() => Context.Unload();
}

/// <summary>A script compiled but its top-level code failed.</summary>
public sealed class ScriptLoadException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The top-level code overran its time and was abandoned, still running.</summary>
    public bool TimedOut { get; init; }
}
