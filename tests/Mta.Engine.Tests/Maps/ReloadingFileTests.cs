// The shared map-file reloader: the first parse, a change on disk, a bad edit that keeps the old table, a missing file.
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Maps;

namespace Mta.Engine.Tests.Maps;

public sealed class ReloadingFileTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] ParseLines(string path)
    {
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
            if (lines[i].StartsWith('!')) throw new FormatException($"{path}:{i + 1}: a line may not start with '!'");
        return lines;
    }

    [Fact]
    public void A_saved_file_is_parsed_again_without_a_reload_call()
    {
        var path = Path.Combine(_dir.Path, "map");
        File.WriteAllText(path, "one\n");
        using var file = new ReloadingFile<string[]>(path, ParseLines, NullLogger.Instance);
        Assert.Equal(["one"], file.Current);

        // Written next to it and renamed over it, as editors and `mv` do.
        File.WriteAllText(path + ".new", "one\ntwo\n");
        File.Move(path + ".new", path, overwrite: true);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (file.Current.Length != 2 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.Equal(["one", "two"], file.Current);
    }

    [Fact]
    public void A_file_that_no_longer_parses_leaves_the_last_good_value_in_service()
    {
        var path = Path.Combine(_dir.Path, "map");
        File.WriteAllText(path, "one\n");
        using var file = new ReloadingFile<string[]>(path, ParseLines, NullLogger.Instance, watch: false);
        File.WriteAllText(path, "one\n!broken\n");

        Assert.False(file.Reload());
        Assert.Equal(["one"], file.Current);

        File.WriteAllText(path, "two\n");
        Assert.True(file.Reload());
        Assert.Equal(["two"], file.Current);
    }

    [Fact]
    public void A_missing_file_is_an_error_at_start_unless_an_empty_value_is_given()
    {
        var path = Path.Combine(_dir.Path, "absent");
        var error = Assert.Throws<StartupException>(() => new ReloadingFile<string[]>(path, ParseLines, NullLogger.Instance, watch: false));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);

        using var optional = new ReloadingFile<string[]>(path, ParseLines, NullLogger.Instance, empty: [], watch: false);
        Assert.Empty(optional.Current);
    }
}
