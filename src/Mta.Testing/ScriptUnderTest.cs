// A policy script loaded as the server loads it, its handlers called with hand-built contexts: no server, no sockets.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Extensibility.Scripts;
using Mta.Engine.Extensibility.State;

namespace Mta.Testing;

/// <summary>
/// One <c>.csx</c> policy script compiled and loaded the way the server does it (its <c>#load</c> files, its top-level
/// code run once under a load timeout), with the handlers its <c>On&lt;TContext&gt;</c> calls registered in
/// <see cref="Recorder"/>, named <c>script:NAME</c>. Call them with <see cref="RunAsync{TContext}"/> and contexts built
/// from <see cref="FakeSession"/>, <see cref="FakeTransaction"/> and <see cref="FakeMessage"/>. Dispose it to unload
/// the script's code.
/// </summary>
public sealed class ScriptUnderTest : IDisposable
{
    private readonly ScriptGeneration _generation;

    private ScriptUnderTest(ScriptGeneration generation, HookRecorder recorder, IStateStore state, FakeDnsResolver dns)
    {
        _generation = generation;
        Recorder = recorder;
        State = state;
        Dns = dns;
    }

    /// <summary>The script's name: its file name without <c>.csx</c>.</summary>
    public string Name => _generation.Name;

    /// <summary>The handlers the script registered, in registration order.</summary>
    public HookRecorder Recorder { get; }

    /// <summary>The script's <c>State</c>: an in-memory store, as the server's default.</summary>
    public IStateStore State { get; }

    /// <summary>The script's <c>Dns</c>: empty tables (every name NXDOMAIN) until the test fills them, before or after
    /// loading.</summary>
    public FakeDnsResolver Dns { get; }

    /// <summary>Compiles and loads <paramref name="path"/>.</summary>
    /// <param name="path">The script file.</param>
    /// <param name="settings">The script's <c>Settings</c>, keys as under <c>Scripts:Settings:KEY</c> (nested with
    /// <c>:</c>, e.g. <c>Senders:0</c>).</param>
    /// <param name="dns">The DNS the script sees; a new empty one when null.</param>
    /// <param name="logger">The script's <c>Log</c>; nothing is logged when null.</param>
    /// <param name="loadTimeout">How long the top-level code may run, as <c>Scripts:LoadTimeout</c> (default 10 s).</param>
    /// <param name="cancellationToken">Stops compiling or waiting for the top-level code.</param>
    /// <exception cref="InvalidOperationException">The script does not compile: every error with its file, line and column.</exception>
    /// <exception cref="ScriptLoadException">The top-level code threw or overran <paramref name="loadTimeout"/>.</exception>
    public static async Task<ScriptUnderTest> LoadAsync(string path, IDictionary<string, string?>? settings = null, FakeDnsResolver? dns = null,
        ILogger? logger = null, TimeSpan? loadTimeout = null, CancellationToken cancellationToken = default)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        var compiled = ScriptCompiler.Compile(full, folder, cancellationToken);
        if (!compiled.Succeeded) throw new InvalidOperationException(string.Join(Environment.NewLine, compiled.Errors));
        dns ??= new FakeDnsResolver();
        var state = new MemoryStateStore();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();
        var globals = new HostScriptGlobals(compiled.Name, folder, configuration, state, logger ?? NullLogger.Instance, dns);
        var generation = await ScriptGeneration.LoadAsync(compiled, 1, globals, loadTimeout ?? TimeSpan.FromSeconds(10), cancellationToken)
            .ConfigureAwait(false);
        var recorder = new HookRecorder();
        foreach (var register in generation.Registrations) register(recorder);
        return new ScriptUnderTest(generation, recorder, state, dns);
    }

    /// <summary>Calls the script's handlers of <typeparamref name="TContext"/> in order until one decides, as the server
    /// does; <see cref="HookResult.Continue"/> when none does.</summary>
    /// <param name="context">A hand-built context.</param>
    /// <param name="cancellationToken">The token the handlers see.</param>
    public Task<HookResult> RunAsync<TContext>(TContext context, CancellationToken cancellationToken = default) where TContext : HookContext
        => Recorder.RunAsync(context, cancellationToken);

    /// <summary>Unloads the script's code (its collectible load context).</summary>
    public void Dispose() => _generation.Unload();
}
