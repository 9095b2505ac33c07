// A file parsed into a value that is parsed again when the file changes on disk or the server reloads.
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Maps;

/// <summary>
/// Holds the parsed form of one file (an alias table, a map) and replaces it when the file is saved again: a watcher
/// on the file's folder notices writes and renames (editors and <c>mv</c> replace the file), and <see cref="Reload"/>
/// re-reads it on demand. A file that no longer parses is logged and the last good value stays in service, so a typo
/// never empties a table under live mail. A missing file is an error at start (<see cref="StartupException"/>) unless
/// the caller allows it, and parses as <paramref name="empty"/> then.
/// </summary>
/// <typeparam name="T">The parsed form; it must be immutable, since readers take it without a lock.</typeparam>
public sealed partial class ReloadingFile<T> : IDisposable where T : class
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(150);
    private readonly Func<string, T> _parse;
    private readonly T? _empty;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher? _watcher;
    private readonly Lock _reloading = new();
    private Timer? _settleTimer;
    private T _current;

    /// <param name="path">The file's full path.</param>
    /// <param name="parse">Reads and parses the file; throws <see cref="FormatException"/> (message with line number) on bad content.</param>
    /// <param name="logger">Where a failed reload is reported.</param>
    /// <param name="empty">The value of a missing file; null makes a missing file an error.</param>
    /// <param name="watch">Watch the file for changes (false in tools such as <c>mta check</c>).</param>
    public ReloadingFile(string path, Func<string, T> parse, ILogger logger, T? empty = null, bool watch = true)
    {
        Path = path;
        _parse = parse;
        _empty = empty;
        _logger = logger;
        _current = Load() ?? throw new StartupException($"{path}: file not found");
        var folder = System.IO.Path.GetDirectoryName(path);
        if (watch && folder is not null && Directory.Exists(folder))
        {
            _watcher = new FileSystemWatcher(folder, System.IO.Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => ScheduleReload();
            _watcher.Created += (_, _) => ScheduleReload();
            _watcher.Deleted += (_, _) => ScheduleReload();
            _watcher.Renamed += (_, _) => ScheduleReload();
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>The last value that parsed.</summary>
    public T Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new value replaced the old one.</summary>
    public event Action<T>? Changed;

    /// <summary>Reads the file again now; returns false (and logs) when it did not parse and the old value stays.</summary>
    public bool Reload()
    {
        lock (_reloading)
        {
            T? value;
            try
            {
                value = Load();
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException or StartupException)
            {
                LogReloadFailed(_logger, Path, ex.Message);
                return false;
            }
            if (value is null)
            {
                LogReloadFailed(_logger, Path, "file not found");
                return false;
            }
            Volatile.Write(ref _current, value);
            LogReloaded(_logger, Path);
        }
        Changed?.Invoke(Current);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _watcher?.Dispose();
        _settleTimer?.Dispose();
    }

    // A save is often several events (truncate, write, rename); parse once they have settled.
    private void ScheduleReload()
    {
        var timer = _settleTimer ??= new Timer(_ => Reload());
        timer.Change(Settle, Timeout.InfiniteTimeSpan);
    }

    private T? Load()
    {
        if (!File.Exists(Path)) return _empty;
        try
        {
            return _parse(Path);
        }
        catch (FileNotFoundException)
        {
            return _empty;
        }
    }

    [LoggerMessage(EventId = LogEvents.Maps.Reloaded, Level = LogLevel.Information, Message = "{Path}: reloaded")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = LogEvents.Maps.ReloadFailed, Level = LogLevel.Error, Message = "{Path}: not reloaded, the previous contents stay in use: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string path, string reason);
}
