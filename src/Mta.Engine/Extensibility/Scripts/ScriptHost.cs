// Loads the .csx policy scripts at start, watches their folder and swaps a changed script in without a restart.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.Loader;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.State;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>
/// The script host. Every <c>*.csx</c> directly in <see cref="ScriptHostOptions.Directory"/> is a script; its handlers
/// belong to the pipeline owner <c>script:NAME</c>, ordered 1000 + the script's place in file-name order (after
/// plugins), each call limited to <see cref="ScriptHostOptions.Timeout"/>. Loads and reloads are serialized.
/// </summary>
public sealed partial class ScriptHost : IExtensionLoader, IDisposable
{
    /// <summary>Scripts run after plugins, whose orders are small.</summary>
    public const int FirstOrder = 1000;

    /// <summary>How long a file must be quiet before it is recompiled: editors write in several steps.</summary>
    public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(250);

    private readonly ScriptHostOptions _options;
    private readonly MtaOptions _mta;
    private readonly HookPipeline _pipeline;
    private readonly StateStoreProvider _states;
    private readonly ILoggerFactory _loggers;
    private readonly IDnsResolver _dns;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, ScriptGeneration> _scripts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _generations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _applied = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changed = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ScriptCache? _cache;
    private FileSystemWatcher? _watcher;
    private Task? _watchLoop;
    private int _compilations;
    private int _abandonedLoads;
    private int _cacheHits;

    public ScriptHost(MtaOptions options, MtaPaths paths, HookPipeline pipeline, StateStoreProvider states, ILoggerFactory loggers, IDnsResolver dns)
    {
        _dns = dns;
        _mta = options;
        _options = options.Scripts;
        _pipeline = pipeline;
        _states = states;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ScriptHost>();
        // Without a trailing separator: watcher paths are compared with it (a file is a script when its folder is Root).
        Root = Path.TrimEndingDirectorySeparator(paths.Resolve(_options.Directory));
        if (_options.Cache) _cache = new ScriptCache(Path.Combine(paths.DataDirectory, "script-cache"));
    }

    /// <summary>How many times this host ran Roslyn (a compile cache hit does not count).</summary>
    internal int Compilations => Volatile.Read(ref _compilations);

    /// <summary>How many loads' top-level code overran <see cref="ScriptHostOptions.LoadTimeout"/>; each still runs.</summary>
    public int AbandonedLoads => Volatile.Read(ref _abandonedLoads);

    /// <summary>How many scripts this host took from the compile cache.</summary>
    internal int CacheHits => Volatile.Read(ref _cacheHits);

    /// <summary>The scripts folder, absolute.</summary>
    public string Root { get; }

    /// <summary>The pipeline owner (and handler name) of a script.</summary>
    public static string OwnerOf(string scriptName) => "script:" + scriptName;

    /// <summary>The loaded scripts, in the order they run.</summary>
    public IReadOnlyList<string> ScriptNames
    {
        get { lock (_scripts) return _scripts.Keys.Order(StringComparer.Ordinal).ToArray(); }
    }

    /// <summary>The generation whose handlers are in force (1 after start, +1 per successful reload), or 0 when none.</summary>
    public int GenerationOf(string scriptName)
    {
        lock (_applied) return _applied.GetValueOrDefault(scriptName);
    }

    /// <summary>The load context of a script's current generation (tests watch it being collected).</summary>
    internal AssemblyLoadContext? LoadContextOf(string scriptName)
    {
        lock (_scripts) return _scripts.TryGetValue(scriptName, out var g) ? g.Context : null;
    }

    /// <summary>Compiles and loads every script; a script that does not compile or whose top-level code fails stops
    /// start-up with every error. Then starts watching the folder.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            LogDisabled();
            return;
        }
        if (!Directory.Exists(Root))
        {
            LogNoDirectory(Root);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        var attempt = await CompileAndRunAllAsync(useCache: true, cancellationToken).ConfigureAwait(false);
        if (attempt.Errors.Count > 0) throw Refuse(attempt.Errors);

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_scripts)
                foreach (var generation in attempt.Loaded) _scripts[generation.Name] = generation;
            ApplyAll();
        }
        finally
        {
            _gate.Release();
        }
        var results = attempt.Compiled;
        var compiled = results.Select(r => r.Script).ToArray();
        if (_cache is not null) PruneCache(results.Select(r => r.Key).OfType<string>().ToHashSet(StringComparer.Ordinal));
        LogLoaded(compiled.Length, Root, Stopwatch.GetElapsedTime(started).TotalMilliseconds, results.Count(r => r.Cached));
        if (_options.Watch) StartWatching();
    }

    /// <summary>
    /// What <see cref="LoadAsync"/> does short of registering anything, for <c>mta check</c>: compiles every script and
    /// runs its top-level code (with <see cref="ScriptHostOptions.LoadTimeout"/>), then unloads it. The compile cache is
    /// neither read nor written.
    /// </summary>
    /// <returns>Every error start-up would refuse with, in the same words; empty when the scripts would load.</returns>
    public async Task<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled || !Directory.Exists(Root)) return [];
        var attempt = await CompileAndRunAllAsync(useCache: false, cancellationToken).ConfigureAwait(false);
        foreach (var generation in attempt.Loaded) generation.Unload();
        return attempt.Errors;
    }

    private sealed record LoadAttempt(
        IReadOnlyList<(CompiledScript Script, string? Key, bool Cached)> Compiled, IReadOnlyList<ScriptGeneration> Loaded, IReadOnlyList<string> Errors);

    /// <summary>Compiles every script, and when all compile runs each one's top-level code. On any error nothing stays
    /// loaded; the errors name the script files.</summary>
    private async Task<LoadAttempt> CompileAndRunAllAsync(bool useCache, CancellationToken cancellationToken)
    {
        var files = ScriptCompiler.ScriptFiles(Root);
        // Compiling is the slow part (the first Roslyn compile JITs the compiler): do the scripts side by side.
        var results = await Task.WhenAll(files.Select(f => Task.Run(
                () => useCache ? Compile(f, cancellationToken) : (ScriptCompiler.Compile(f, Root, cancellationToken), null, false), cancellationToken)))
            .ConfigureAwait(false);
        var errors = results.SelectMany(r => r.Script.Errors).ToList();
        if (errors.Count > 0) return new LoadAttempt(results, [], errors);

        var loaded = new List<ScriptGeneration>();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var (script, _, _) in results)
            {
                try
                {
                    loaded.Add(await LoadGenerationAsync(script, cancellationToken).ConfigureAwait(false));
                }
                catch (ScriptLoadException ex)
                {
                    errors.Add($"{script.Path}: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping while a script loads: what loaded before it is let go too.
            foreach (var generation in loaded) generation.Unload();
            throw;
        }
        finally
        {
            _gate.Release();
        }
        if (errors.Count == 0) return new LoadAttempt(results, loaded, errors);
        foreach (var generation in loaded) generation.Unload();
        return new LoadAttempt(results, [], errors);
    }

    private static StartupException Refuse(IReadOnlyList<string> errors)
        => new($"Scripts: {errors.Count} error(s); the server does not start with a broken script:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");

    /// <summary>
    /// Recompiles a script from its file and swaps it in; when the file is gone its handlers are removed. A script
    /// that fails to compile or load keeps its old generation running and the errors are logged.
    /// </summary>
    /// <returns>True when the new generation (or the removal) took effect.</returns>
    public async Task<bool> ReloadAsync(string scriptName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scriptName);
        var path = Path.Combine(Root, scriptName + ".csx");
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ReloadLockedAsync(path, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<bool> ReloadLockedAsync(string path, CancellationToken cancellationToken)
    {
        var name = ScriptCompiler.NameOf(path);
        if (!File.Exists(path)) return Remove(name);
        var (compiled, _, _) = await Task.Run(() => Compile(path, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (!compiled.Succeeded)
        {
            LogReloadFailed(name, string.Join(Environment.NewLine, compiled.Errors));
            return false;
        }
        ScriptGeneration generation;
        try
        {
            generation = await LoadGenerationAsync(compiled, cancellationToken).ConfigureAwait(false);
        }
        catch (ScriptLoadException ex)
        {
            LogReloadFailed(name, ex.Message);
            return false;
        }
        ScriptGeneration? old;
        bool added;
        lock (_scripts)
        {
            added = !_scripts.TryGetValue(name, out old);
            _scripts[name] = generation;
        }
        // A new file shifts the file-name order of the others; otherwise only this owner's handlers change.
        if (added) ApplyAll();
        else Apply(generation, OrderOf(name));
        // A new generation is back in service (the old one's runaway calls no longer count against it).
        _pipeline.Containment?.Restore(OwnerOf(name));
        // After the swap: calls already running keep their delegates (and so the context) alive until they end.
        old?.Unload();
        if (added) LogAdded(name, generation.Number);
        else LogReloaded(name, generation.Number);
        return true;
    }

    /// <summary>Takes the script from the compile cache, or compiles it and stores a success there. The cache is an
    /// optimisation only: any trouble with it is logged and the script is compiled as if there were none.</summary>
    private (CompiledScript Script, string? Key, bool Cached) Compile(string path, CancellationToken cancellationToken)
    {
        string? key = null;
        SortedDictionary<string, string>? before = null;
        if (_cache is not null)
        {
            try
            {
                before = ScriptCache.Snapshot(Root);
                key = ScriptCache.KeyOf(path, Root, before);
                if (key is not null && _cache.TryGet(key, path, Root, before) is { } hit)
                {
                    Interlocked.Increment(ref _cacheHits);
                    return (hit, key, true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogCacheFailed(_cache.Directory, ex);
                key = null;
            }
        }
        Interlocked.Increment(ref _compilations);
        var compiled = ScriptCompiler.Compile(path, Root, cancellationToken);
        if (_cache is null || key is null || before is null || !compiled.Succeeded) return (compiled, key, false);
        try
        {
            // A file edited while Roslyn read it: the image may match neither version, so it is stored under neither.
            if (ScriptCache.Snapshot(Root).SequenceEqual(before)) _cache.Put(key, compiled, Root, before);
            else key = null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogCacheFailed(_cache.Directory, ex);
        }
        return (compiled, key, false);
    }

    private void PruneCache(IReadOnlySet<string> keys)
    {
        try
        {
            _cache!.Prune(keys);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogCacheFailed(_cache!.Directory, ex);
        }
    }

    private bool Remove(string name)
    {
        ScriptGeneration? old;
        lock (_scripts)
        {
            if (!_scripts.Remove(name, out old)) return false;
        }
        _pipeline.RemoveOwner(OwnerOf(name));
        _pipeline.Containment?.Restore(OwnerOf(name));
        lock (_applied) _applied.Remove(name);
        ApplyAll();
        old.Unload();
        LogRemoved(name);
        return true;
    }

    private async Task<ScriptGeneration> LoadGenerationAsync(CompiledScript compiled, CancellationToken cancellationToken)
    {
        // Callers hold _gate, so the number is only taken (committed) by a generation that loaded.
        int number;
        lock (_generations) number = _generations.GetValueOrDefault(compiled.Name) + 1;
        var globals = new HostScriptGlobals(compiled.Name, System.IO.Path.GetDirectoryName(compiled.Path)!, SettingsOf(compiled.Name),
            _states.Get(OwnerOf(compiled.Name)),
            _loggers.CreateLogger("Mta.Scripts." + compiled.Name), _dns);
        ScriptGeneration generation;
        try
        {
            generation = await ScriptGeneration.LoadAsync(compiled, number, globals, _options.LoadTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (ScriptLoadException ex) when (ex.TimedOut)
        {
            // Each abandoned load keeps a thread (and its code) until the process ends: say how many there are.
            LogLoadAbandoned(compiled.Name, Interlocked.Increment(ref _abandonedLoads));
            throw;
        }
        lock (_generations) _generations[compiled.Name] = number;
        return generation;
    }

    /// <summary>
    /// The script's settings section, over a read-only <c>Server</c> section (HostName, LocalDomains) so that a policy
    /// can tell this server's own names without being configured with them. The section under the script's full name
    /// comes first and the one under <see cref="SettingsKeyOf"/> over it, so the shorter key wins key by key and a
    /// configuration written before the shorter key existed keeps working.
    /// </summary>
    private IConfiguration SettingsOf(string name)
    {
        var server = new Dictionary<string, string?> { ["Server:HostName"] = _mta.HostName };
        for (var i = 0; i < _mta.LocalDomains.Count; i++) server[$"Server:LocalDomains:{i}"] = _mta.LocalDomains[i];
        var builder = new ConfigurationBuilder().AddInMemoryCollection(server);
        foreach (var key in new[] { name, SettingsKeyOf(name) }.Distinct(StringComparer.OrdinalIgnoreCase))
            if (_options.Settings?.GetSection(key) is { } section) builder.AddConfiguration(section, shouldDisposeConfiguration: false);
        return builder.Build();
    }

    /// <summary>
    /// The settings key of a script: its name without the order prefix (digits then <c>-</c> or <c>_</c>), which only
    /// places the script in the file-name order: <c>10-blocklist</c> is <c>blocklist</c>. A name that is nothing but a
    /// prefix is its own key.
    /// </summary>
    public static string SettingsKeyOf(string scriptName)
    {
        ArgumentNullException.ThrowIfNull(scriptName);
        var digits = 0;
        while (digits < scriptName.Length && char.IsAsciiDigit(scriptName[digits])) digits++;
        var prefixed = digits > 0 && digits + 1 < scriptName.Length && scriptName[digits] is '-' or '_';
        return prefixed ? scriptName[(digits + 1)..] : scriptName;
    }

    private int OrderOf(string name)
    {
        lock (_scripts)
        {
            var index = _scripts.Keys.Order(StringComparer.Ordinal).ToList().IndexOf(name);
            return FirstOrder + Math.Max(index, 0);
        }
    }

    private void ApplyAll()
    {
        ScriptGeneration[] all;
        lock (_scripts) all = _scripts.Values.OrderBy(g => g.Name, StringComparer.Ordinal).ToArray();
        for (var i = 0; i < all.Length; i++) Apply(all[i], FirstOrder + i);
    }

    private void Apply(ScriptGeneration generation, int order)
    {
        _pipeline.ReplaceOwner(OwnerOf(generation.Name), order, _options.Timeout, registrar =>
        {
            foreach (var register in generation.Registrations) register(registrar);
        });
        // Published only once its handlers are the ones sessions run.
        lock (_applied) _applied[generation.Name] = generation.Number;
    }

    private void StartWatching()
    {
        var watcher = new FileSystemWatcher(Root)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, e) => Touch(e.FullPath);
        watcher.Created += (_, e) => Touch(e.FullPath);
        watcher.Deleted += (_, e) => Touch(e.FullPath);
        watcher.Renamed += (_, e) =>
        {
            Touch(e.OldFullPath);
            Touch(e.FullPath);
        };
        watcher.Error += (_, e) => LogWatchError(e.GetException());
        watcher.EnableRaisingEvents = true;
        _watcher = watcher;
        _watchLoop = Task.Run(WatchLoopAsync);
    }

    private void Touch(string path)
    {
        if (!path.EndsWith(".csx", StringComparison.Ordinal)) return;
        _pending[path] = Environment.TickCount64;
        _changed.Release();
    }

    private async Task WatchLoopAsync()
    {
        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (_pending.IsEmpty) await _changed.WaitAsync(stop).ConfigureAwait(false);
                await Task.Delay(Debounce / 5, stop).ConfigureAwait(false);
                var now = Environment.TickCount64;
                foreach (var (path, touched) in _pending)
                {
                    if (now - touched < (long)Debounce.TotalMilliseconds) continue;
                    if (!_pending.TryRemove(new KeyValuePair<string, long>(path, touched))) continue;
                    try
                    {
                        await OnFileChangedAsync(path, stop).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogReloadFailed(ScriptCompiler.NameOf(path), ex.ToString());
                    }
                }
                while (_changed.CurrentCount > 0 && _changed.Wait(0)) { }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task OnFileChangedAsync(string path, CancellationToken cancellationToken)
    {
        await WaitUntilStableAsync(path, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var targets = new SortedSet<string>(StringComparer.Ordinal);
            if (string.Equals(Path.GetDirectoryName(path), Root, StringComparison.Ordinal)) targets.Add(path);
            // A changed helper reloads every script that #loads it.
            lock (_scripts)
                foreach (var generation in _scripts.Values)
                    if (generation.Files.Contains(path, StringComparer.Ordinal)) targets.Add(Path.Combine(Root, generation.Name + ".csx"));
            foreach (var target in targets) await ReloadLockedAsync(target, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Waits until two reads a moment apart see the same file, so a half-written save is not compiled.</summary>
    private static async Task WaitUntilStableAsync(string path, CancellationToken cancellationToken)
    {
        byte[]? previous = null;
        for (var attempt = 0; attempt < 20; attempt++)
        {
            byte[]? current;
            try
            {
                current = File.Exists(path) ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false) : null;
            }
            catch (IOException)
            {
                current = [];
            }
            if (attempt > 0 && (current is null ? previous is null : previous is not null && current.AsSpan().SequenceEqual(previous))) return;
            previous = current;
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private int _disposed;

    public void Dispose()
    {
        // Registered both as itself and as an IExtensionLoader, so the container disposes it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _watcher?.Dispose();
        try
        {
            _watchLoop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }

    [LoggerMessage(EventId = LogEvents.Scripts.Disabled, Level = LogLevel.Information, Message = "Scripts are disabled (Scripts:Enabled=false)")]
    private partial void LogDisabled();

    [LoggerMessage(EventId = LogEvents.Scripts.NoDirectory, Level = LogLevel.Information, Message = "No scripts folder {Directory}: no scripts loaded")]
    private partial void LogNoDirectory(string directory);

    [LoggerMessage(EventId = LogEvents.Scripts.Loaded, Level = LogLevel.Information, Message = "Loaded {Count} script(s) from {Directory} in {ElapsedMs:0} ms ({Cached} from the compile cache)")]
    private partial void LogLoaded(int count, string directory, double elapsedMs, int cached);

    [LoggerMessage(EventId = LogEvents.Scripts.Reloaded, Level = LogLevel.Information, Message = "script {Script} reloaded (generation {Generation})")]
    private partial void LogReloaded(string script, int generation);

    [LoggerMessage(EventId = LogEvents.Scripts.Added, Level = LogLevel.Information, Message = "script {Script} added (generation {Generation})")]
    private partial void LogAdded(string script, int generation);

    [LoggerMessage(EventId = LogEvents.Scripts.Removed, Level = LogLevel.Information, Message = "script {Script} removed: its handlers are gone")]
    private partial void LogRemoved(string script);

    [LoggerMessage(EventId = LogEvents.Scripts.ReloadFailed, Level = LogLevel.Error, Message = "script {Script} not reloaded, the previous version keeps running:\n{Errors}")]
    private partial void LogReloadFailed(string script, string errors);

    [LoggerMessage(EventId = LogEvents.Scripts.WatchError, Level = LogLevel.Warning, Message = "Watching the scripts folder failed; changes may be missed until a restart")]
    private partial void LogWatchError(Exception exception);

    [LoggerMessage(EventId = LogEvents.ScriptLoads.Abandoned, Level = LogLevel.Warning, Message = "script {Script}: top-level code overran Scripts:LoadTimeout and runs on, abandoned, on its own thread; {Abandoned} abandoned load(s) in this process until it restarts")]
    private partial void LogLoadAbandoned(string script, int abandoned);

    [LoggerMessage(EventId = LogEvents.Scripts.CacheFailed, Level = LogLevel.Warning, Message = "The script compile cache {Directory} failed; scripts are compiled without it")]
    private partial void LogCacheFailed(string directory, Exception exception);
}
