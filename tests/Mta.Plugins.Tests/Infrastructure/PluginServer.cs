// Plugin tests: where plugin builds are, and the in-process engine started with a plugins folder, optionally on a fake clock.
using System.Reflection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.Plugins.Tests.Infrastructure;

/// <summary>Plugin build outputs, and MtaTestServer started the way the plugin tests need it.</summary>
public static class PluginServer
{
    /// <summary>The repository root, recorded at build time.</summary>
    public static string RepoRoot { get; } = Metadata("RepoRoot");

    /// <summary>The build output folder of a plugin project under the repository, in the tests' configuration.</summary>
    public static string BuildOutput(string projectFolder)
    {
        var path = Path.Combine(RepoRoot, projectFolder, "bin", Metadata("Configuration"), "net10.0");
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: build the plugin first");
        return path;
    }

    public static string GreylistOutput => BuildOutput("plugins/Mta.Plugins.Greylist");
    public static string ProbeOutput => BuildOutput("tests/TestPlugins/Mta.TestPlugins.Probe");

    private static string Metadata(string key) =>
        typeof(PluginServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public static string NewRoot()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-plugins-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>Starts the engine with no scripts and a plugins folder of its own; <paramref name="time"/> replaces the
    /// host's clock (plugins see it too). A given <paramref name="root"/> is the caller's and survives the server.</summary>
    public static Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null, TimeProvider? time = null, string? root = null,
        Action<Mta.Abstractions.IHookRegistrar>? hooks = null)
    {
        var keep = root is not null;
        root ??= NewRoot();
        return MtaTestServer.StartAsync(options =>
        {
            options.PluginsDirectory = Path.Combine(root, "plugins");
            options.Listeners[0].Tls = ListenerTlsMode.StartTls;
            // Plugins only: the working directory's scripts folder is not this test's business.
            options.Scripts.Enabled = false;
            configure?.Invoke(options);
        }, hooks, dataDirectory: root, time: time, keepDataDirectory: keep);
    }

    /// <summary>Starts the engine expecting start-up to fail; returns the exception it failed with.</summary>
    public static async Task<Exception> StartFailsAsync(Action<MtaOptions> configure)
    {
        var root = NewRoot();
        try
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(async () => { await using var _ = await StartAsync(configure, root: root); });
            return ex is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : ex;
        }
        finally
        {
            TryDelete(root);
        }
    }

    public static void TryDelete(string root) => MtaTestServer.DeleteQuietly(root);
}
