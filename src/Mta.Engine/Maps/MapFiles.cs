// Opens a set of map files as ReloadingFiles, all or none, turning a bad file into a start-up error that names its key.
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Maps;

internal static class MapFiles
{
    /// <summary>Opens every file of <paramref name="files"/> (config key, path as configured); on the first failure the
    /// ones already open are disposed and a <see cref="StartupException"/> names the key and the reason.</summary>
    public static List<ReloadingFile<T>> Open<T>(IEnumerable<(string Key, string Path)> files, Func<string, T> parse, MtaPaths paths,
        ILogger logger, bool watch) where T : class
    {
        var opened = new List<ReloadingFile<T>>();
        try
        {
            foreach (var (key, path) in files)
                opened.Add(Open(key, path, parse, paths, logger, watch));
            return opened;
        }
        catch
        {
            foreach (var file in opened) file.Dispose();
            throw;
        }
    }

    /// <summary>Opens one map file; errors as <see cref="Open{T}(IEnumerable{ValueTuple{string, string}}, Func{string, T}, MtaPaths, ILogger, bool)"/>.</summary>
    public static ReloadingFile<T> Open<T>(string key, string path, Func<string, T> parse, MtaPaths paths, ILogger logger, bool watch) where T : class
    {
        try
        {
            return new ReloadingFile<T>(paths.Resolve(path), parse, logger, watch: watch);
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException or StartupException)
        {
            throw new StartupException($"{key}: {ex.Message}", ex);
        }
    }

    /// <summary>Disposes files that the new set no longer holds.</summary>
    public static void DisposeAll<T>(IEnumerable<ReloadingFile<T>> files) where T : class
    {
        foreach (var file in files) file.Dispose();
    }
}
