// The compile cache: a restart with unchanged scripts skips Roslyn; any source change or damaged entry compiles again.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class CompileCacheTests
{
    // The rule lives in a #load-ed helper so that a helper edit can be told apart from a script edit.
    private const string Policy = "#load \"lib/rule.csx\"\nOn<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == Refused ? HookResult.Reject(Text, 550, \"5.7.1\") : HookResult.Continue);\n";

    private static string Rule(string local, string text = "refused by policy") => $"const string Refused = \"{local}\";\nconst string Text = \"{text}\";\n";

    private static ScriptFolder Folder(string local = "alice")
    {
        var folder = new ScriptFolder();
        folder.Write("policy", Policy);
        folder.Write("lib/rule", Rule(local));
        return folder;
    }

    private static string CacheOf(MtaTestServer server) => Path.Combine(server.Paths.DataDirectory, "script-cache");

    /// <summary>Starts on a fresh data directory holding a copy of <paramref name="cache"/> (a test server deletes its own at dispose).</summary>
    private static Task<MtaTestServer> RestartAsync(ScriptFolder folder, string cache, Action<string>? damage = null)
    {
        var data = Path.Combine(Path.GetTempPath(), "mta-e2e-" + Guid.NewGuid().ToString("n")[..12]);
        var copy = Path.Combine(data, "script-cache");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(cache)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        damage?.Invoke(copy);
        return MtaTestServer.StartAsync(o =>
        {
            o.Scripts.Directory = folder.Path;
            o.Scripts.Watch = false;
        }, dataDirectory: data);
    }

    /// <summary>Starts, then keeps a copy of the cache the start wrote, and stops.</summary>
    private static async Task<string> FirstStartAsync(ScriptFolder folder, string refusedLocal = "alice")
    {
        await using var server = await Scripting.StartAsync(folder);
        Assert.Equal(1, server.ScriptHost().Compilations);
        Assert.Equal(0, server.ScriptHost().CacheHits);
        await AssertRefusesAsync(server, refusedLocal);
        // Compiled code is run from there: only the server's user may write it.
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(CacheOf(server)));
        var kept = Path.Combine(folder.Path, "..", Path.GetFileName(folder.Path) + "-cache");
        Directory.CreateDirectory(kept);
        foreach (var file in Directory.GetFiles(CacheOf(server))) File.Copy(file, Path.Combine(kept, Path.GetFileName(file)));
        return Path.GetFullPath(kept);
    }

    private static async Task AssertRefusesAsync(MtaTestServer server, string local, string text = "refused by policy")
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync($"RCPT TO:<{local}@example.test>"), 550, "5.7.1", text);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<someone-else@example.test>"), 250);
    }

    private static void DeleteQuietly(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public async Task A_second_start_with_the_same_scripts_does_not_run_the_compiler_and_behaves_the_same()
    {
        using var folder = Folder();
        var cache = await FirstStartAsync(folder);
        try
        {
            Assert.Equal(3, Directory.GetFiles(cache).Length); // KEY.dll, KEY.pdb, KEY.meta
            await using var server = await RestartAsync(folder, cache);
            Assert.Equal(0, server.ScriptHost().Compilations);
            Assert.Equal(1, server.ScriptHost().CacheHits);
            await AssertRefusesAsync(server, "alice");
        }
        finally
        {
            DeleteQuietly(cache);
        }
    }

    [Fact]
    public async Task A_changed_script_misses_the_cache_and_the_unused_entry_is_pruned()
    {
        using var folder = Folder();
        var cache = await FirstStartAsync(folder);
        try
        {
            var old = Directory.GetFiles(cache).Select(Path.GetFileName).ToHashSet();
            folder.Write("policy", Policy.Replace("HookResult.Continue", "HookResult.Continue ", StringComparison.Ordinal));
            await using var server = await RestartAsync(folder, cache);
            Assert.Equal(1, server.ScriptHost().Compilations);
            Assert.Equal(0, server.ScriptHost().CacheHits);
            await AssertRefusesAsync(server, "alice");
            var now = Directory.GetFiles(CacheOf(server)).Select(Path.GetFileName).ToArray();
            Assert.Equal(3, now.Length);
            Assert.DoesNotContain(now, old.Contains);
        }
        finally
        {
            DeleteQuietly(cache);
        }
    }

    [Fact]
    public async Task A_changed_loaded_helper_misses_the_cache()
    {
        using var folder = Folder("alice");
        var cache = await FirstStartAsync(folder, "alice");
        try
        {
            folder.Write("lib/rule", Rule("bob"));
            await using var server = await RestartAsync(folder, cache);
            Assert.Equal(1, server.ScriptHost().Compilations);
            await AssertRefusesAsync(server, "bob");
        }
        finally
        {
            DeleteQuietly(cache);
        }
    }

    [Theory]
    [InlineData(".dll")]
    [InlineData(".pdb")]
    [InlineData(".meta")]
    public async Task A_damaged_entry_is_detected_deleted_and_recompiled(string extension)
    {
        using var folder = Folder();
        var cache = await FirstStartAsync(folder);
        try
        {
            byte[]? damaged = null;
            await using (var server = await RestartAsync(folder, cache, copy =>
            {
                // A torn write: the file keeps only its first half.
                var file = Directory.GetFiles(copy, "*" + extension).Single();
                var bytes = File.ReadAllBytes(file);
                damaged = bytes[..(bytes.Length / 2)];
                File.WriteAllBytes(file, damaged);
            }))
            {
                Assert.Equal(1, server.ScriptHost().Compilations);
                Assert.Equal(0, server.ScriptHost().CacheHits);
                await AssertRefusesAsync(server, "alice");
                // The rewritten entry is whole again, and the next start takes it.
                var file = Directory.GetFiles(CacheOf(server), "*" + extension).Single();
                Assert.NotEqual(damaged, File.ReadAllBytes(file));
                await using var again = await RestartAsync(folder, CacheOf(server));
                Assert.Equal(0, again.ScriptHost().Compilations);
                Assert.Equal(1, again.ScriptHost().CacheHits);
            }
        }
        finally
        {
            DeleteQuietly(cache);
        }
    }

    [Fact]
    public async Task Cache_false_compiles_every_time_and_never_writes_the_folder()
    {
        using var folder = Folder();
        await using var server = await Scripting.StartAsync(folder, configure: o => o.Scripts.Cache = false);
        Assert.Equal(1, server.ScriptHost().Compilations);
        await AssertRefusesAsync(server, "alice");
        Assert.True(await server.ScriptHost().ReloadAsync("policy"));
        Assert.Equal(2, server.ScriptHost().Compilations);
        Assert.False(Directory.Exists(CacheOf(server)));
    }

    [Fact]
    public async Task A_reload_back_to_an_earlier_text_takes_the_cached_compile()
    {
        using var folder = Folder();
        await using var server = await Scripting.StartAsync(folder);
        var host = server.ScriptHost();
        folder.Write("lib/rule", Rule("bob"));
        Assert.True(await host.ReloadAsync("policy"));
        await AssertRefusesAsync(server, "bob");
        folder.Write("lib/rule", Rule("alice"));
        Assert.True(await host.ReloadAsync("policy"));
        await AssertRefusesAsync(server, "alice");
        Assert.Equal(2, host.Compilations);
        Assert.Equal(1, host.CacheHits);
    }
}
