// The server's alias table: the configured alias files and the :include: files they name, each re-read when saved or on reload.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Maps;

/// <summary>An alias found for a local part, and the file that defined it.</summary>
/// <param name="Entry">The alias.</param>
/// <param name="File">The alias file's full path (its owner decides who commands and files run as).</param>
public sealed record AliasMatch(AliasEntry Entry, string File);

/// <summary>
/// The alias files of <c>Aliases:Files</c>, searched in order, as Postfix's <c>alias_maps</c>. Each file and each
/// <c>:include:</c> file is a <see cref="ReloadingFile{T}"/>: a saved file is picked up, and an edit that does not parse
/// is logged while the last good table stays. <see cref="Reload"/> (SIGHUP, <c>mta reload</c>) re-reads them all and takes
/// a changed file list.
/// </summary>
public sealed partial class AliasTable : IReloadable, IDisposable
{
    private readonly MtaPaths _paths;
    private readonly ILogger _logger;
    private readonly bool _watch;
    private readonly ConcurrentDictionary<string, ReloadingFile<IReadOnlyList<AliasTarget>>> _includes = new(StringComparer.Ordinal);
    private readonly Lock _swap = new();
    private volatile State _state;

    /// <summary>Loads every alias file; throws <see cref="StartupException"/> when one is missing and
    /// <see cref="FormatException"/> when one does not parse, so a broken table stops the start.</summary>
    public AliasTable(MtaOptions options, MtaPaths paths, ILogger<AliasTable> logger) : this(options, paths, logger, watch: true)
    {
    }

    internal AliasTable(MtaOptions options, MtaPaths paths, ILogger logger, bool watch)
    {
        _paths = paths;
        _logger = logger;
        _watch = watch;
        try
        {
            _state = Load(options, []);
        }
        catch (FormatException ex)
        {
            throw new StartupException(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public string Name => "aliases";

    /// <summary>The <c>Aliases</c> options in force.</summary>
    public AliasOptions Options => _state.Options.Aliases;

    /// <summary>The recipient delimiter in force (<c>Mailboxes:RecipientDelimiter</c>).</summary>
    public string? RecipientDelimiter => _state.Options.Mailboxes.RecipientDelimiter;

    /// <summary>True when there are no alias files.</summary>
    public bool IsEmpty => _state.Files.Length == 0;

    /// <summary>
    /// The alias for <paramref name="localPart"/>: the full local part first, then its user part before the recipient
    /// delimiter (<c>staff+x</c> finds <c>staff</c>). Null when no alias file names it.
    /// </summary>
    public AliasMatch? Find(string localPart)
    {
        var state = _state;
        if (state.Files.Length == 0) return null;
        return FindExact(state, localPart)
            ?? (AddressDetail.Split(localPart, state.Options.Mailboxes.RecipientDelimiter) is (var user, not null) ? FindExact(state, user) : null);
    }

    /// <summary>The alias named exactly <paramref name="name"/> (no delimiter rule): for <c>owner-</c> lookups and nested names.</summary>
    public AliasMatch? FindExact(string name) => FindExact(_state, name);

    /// <summary>The targets of an <c>:include:</c> file, loaded (and watched) on first use.</summary>
    /// <exception cref="StartupException">The file does not exist.</exception>
    /// <exception cref="FormatException">The file does not parse (first load only; later bad edits keep the old list).</exception>
    public IReadOnlyList<AliasTarget> Include(string path)
    {
        if (_includes.TryGetValue(path, out var loaded)) return loaded.Current;
        // Made under the lock so two deliveries never both start a watcher; a file that fails is tried again next time.
        lock (_swap)
        {
            if (!_includes.TryGetValue(path, out loaded))
            {
                loaded = new ReloadingFile<IReadOnlyList<AliasTarget>>(path, AliasFile.LoadInclude, _logger, watch: _watch);
                _includes[path] = loaded;
            }
            return loaded.Current;
        }
    }

    /// <inheritdoc />
    public void Reload(MtaOptions options)
    {
        lock (_swap)
        {
            var old = _state;
            var same = options.Aliases.Files.Select(_paths.Resolve).SequenceEqual(old.Files.Select(f => f.Path));
            if (same)
            {
                foreach (var file in old.Files) file.Reload();
                _state = old with { Options = options };
            }
            else
            {
                try
                {
                    _state = Load(options, old.Files);
                }
                catch (FormatException ex)
                {
                    throw new StartupException(ex.Message, ex);
                }
                foreach (var file in old.Files.Where(f => !_state.Files.Contains(f))) file.Dispose();
            }
            foreach (var include in _includes.Values) include.Reload();
            LogLoaded(_logger, _state.Files.Length, _state.Files.Sum(f => f.Current.Entries.Count));
        }
    }

    /// <summary>
    /// Every problem of the configured alias files and the include files they name, as <c>mta check</c> and
    /// <c>newaliases</c> report them: missing files and syntax errors (<c>file:line</c>). Empty when all is well.
    /// </summary>
    /// <param name="options">The configuration whose <c>Aliases:Files</c> are checked.</param>
    /// <param name="paths">Resolves the configured paths.</param>
    /// <param name="warnings">When given, receives what parses but is probably a mistake (a name given twice).</param>
    public static IReadOnlyList<string> Check(MtaOptions options, MtaPaths paths, List<string>? warnings = null)
    {
        var errors = new List<string>();
        var includes = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<string>();
        void Note(IEnumerable<AliasTarget> targets)
        {
            foreach (var t in targets)
                if (t.Kind == AliasTargetKind.Include && includes.Add(t.Value)) pending.Enqueue(t.Value);
        }
        foreach (var configured in options.Aliases.Files)
        {
            var path = paths.Resolve(configured);
            try
            {
                var file = AliasFile.Load(path);
                warnings?.AddRange(file.Warnings);
                foreach (var entry in file.Entries.Values) Note(entry.Targets);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{path}: {ex.Message}");
            }
            catch (FormatException ex)
            {
                errors.Add(ex.Message);
            }
        }
        while (pending.TryDequeue(out var include))
        {
            try
            {
                Note(AliasFile.LoadInclude(include));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{include} (:include:): {ex.Message}");
            }
            catch (FormatException ex)
            {
                errors.Add(ex.Message);
            }
        }
        return errors;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in _state.Files) file.Dispose();
        foreach (var include in _includes.Values) include.Dispose();
    }

    private static AliasMatch? FindExact(State state, string name)
    {
        foreach (var file in state.Files)
            if (file.Current.Entries.TryGetValue(name, out var entry)) return new AliasMatch(entry, file.Path);
        return null;
    }

    /// <summary>The files of <paramref name="options"/>, reusing those of <paramref name="kept"/> still listed.</summary>
    private State Load(MtaOptions options, ReloadingFile<AliasFile>[] kept)
    {
        var files = new List<ReloadingFile<AliasFile>>();
        try
        {
            foreach (var configured in options.Aliases.Files)
            {
                var path = _paths.Resolve(configured);
                var reused = kept.FirstOrDefault(f => f.Path == path);
                if (reused is not null) reused.Reload();
                var file = reused ?? new ReloadingFile<AliasFile>(path, AliasFile.Load, _logger, watch: _watch);
                foreach (var warning in file.Current.Warnings) LogWarning(_logger, warning);
                files.Add(file);
            }
        }
        catch
        {
            foreach (var file in files.Where(f => !kept.Contains(f))) file.Dispose();
            throw;
        }
        return new State(options, files.ToArray());
    }

    private sealed record State(MtaOptions Options, ReloadingFile<AliasFile>[] Files);

    [LoggerMessage(EventId = LogEvents.Maps.AliasesLoaded, Level = LogLevel.Information, Message = "aliases: {Files} file(s), {Aliases} alias(es)")]
    private static partial void LogLoaded(ILogger logger, int files, int aliases);

    [LoggerMessage(EventId = LogEvents.Maps.AliasWarning, Level = LogLevel.Warning, Message = "aliases: {Warning}")]
    private static partial void LogWarning(ILogger logger, string warning);
}
