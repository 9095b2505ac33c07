// Test helpers: a temporary scripts folder, settings sections, and a server that loads the folder.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Scripts;

namespace Mta.Scripts.Tests;

/// <summary>A temporary scripts folder, deleted at dispose.</summary>
public sealed class ScriptFolder : IDisposable
{
    public ScriptFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mta-scripts-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Writes <c>NAME.csx</c> (or a relative path such as <c>lib/x.csx</c>) and returns its full path.</summary>
    public string Write(string name, string code)
    {
        var file = System.IO.Path.Combine(Path, name.EndsWith(".csx", StringComparison.Ordinal) ? name : name + ".csx");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, code);
        return file;
    }

    /// <summary>Copies a shipped script from the repository's scripts/ folder (copied beside the tests).</summary>
    public string CopyShipped(string name)
    {
        var source = System.IO.Path.Combine(AppContext.BaseDirectory, "shipped-scripts", name + ".csx");
        return Write(name, File.ReadAllText(source));
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class Scripting
{
    /// <summary>A <c>Scripts:Settings</c> section from flat keys such as <c>rate-limit:MaxMessagesPerMinute</c>.</summary>
    public static IConfigurationSection Settings(params (string Key, string Value)[] values)
        => new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>("Scripts:Settings:" + v.Key, v.Value)))
            .Build()
            .GetSection("Scripts:Settings");

    /// <summary>Starts the real engine with its scripts loaded from <paramref name="folder"/>.</summary>
    public static Task<MtaTestServer> StartAsync(ScriptFolder folder, IConfigurationSection? settings = null, bool watch = false,
        TimeSpan? timeout = null, Action<MtaOptions>? configure = null, Action<Mta.Abstractions.IHookRegistrar>? hooks = null,
        Action<IServiceCollection>? services = null)
        => MtaTestServer.StartAsync(o =>
        {
            o.Scripts.Directory = folder.Path;
            o.Scripts.Watch = watch;
            o.Scripts.Settings = settings;
            if (timeout is { } t) o.Scripts.Timeout = t;
            configure?.Invoke(o);
        }, hooks, services: services);

    public static ScriptHost ScriptHost(this MtaTestServer server) => server.Services.GetRequiredService<ScriptHost>();

    /// <summary>Waits (bounded) until the watcher has swapped in the given generation of a script.</summary>
    public static async Task WaitForGenerationAsync(this MtaTestServer server, string script, int generation, TimeSpan? timeout = null)
    {
        var host = server.ScriptHost();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (host.GenerationOf(script) != generation)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"script {script} is at generation {host.GenerationOf(script)}, expected {generation}");
            await Task.Delay(25);
        }
    }

    /// <summary>A Set of a file's content that the watcher sees as a change even within one mtime tick.</summary>
    public static void Rewrite(string path, string code) => File.WriteAllText(path, code);
}
