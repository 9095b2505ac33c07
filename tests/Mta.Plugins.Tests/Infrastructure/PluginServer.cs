// Starts the real engine with plugins loaded from their build output, optionally on a fake clock.
using System.Net;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;

namespace Mta.Plugins.Tests.Infrastructure;

/// <summary>An in-process server like MtaTestServer, whose services (the clock) a test may replace.</summary>
public sealed class PluginServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly bool _ownsRoot;

    private PluginServer(IHost host, MtaOptions options, string root, bool ownsRoot)
    {
        _host = host;
        _ownsRoot = ownsRoot;
        Options = options;
        Root = root;
        Paths = new MtaPaths(options);
        EndPoint = host.Services.GetRequiredService<SmtpServer>().BoundEndPoints[0];
    }

    public MtaOptions Options { get; }
    public MtaPaths Paths { get; }
    public string Root { get; }
    public IPEndPoint EndPoint { get; }
    public IServiceProvider Services => _host.Services;

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

    /// <summary>Starts the engine; <paramref name="time"/> replaces the host's clock (plugins see it too).</summary>
    public static async Task<PluginServer> StartAsync(Action<MtaOptions>? configure = null, TimeProvider? time = null, string? root = null,
        Action<Mta.Abstractions.IHookRegistrar>? hooks = null)
    {
        var ownsRoot = root is null;
        root ??= NewRoot();
        var options = new MtaOptions
        {
            HostName = "mta.test",
            DataDirectory = root,
            Listeners = [new ListenerOptions { Name = "smtp", Address = "127.0.0.1", Port = 0 }],
            LocalDomains = ["example.test", "localhost"],
            PluginsDirectory = Path.Combine(root, "plugins"),
        };
        options.Limits.MaxConnectionsPerIp = 1000;
        options.Hooks.Timeout = TimeSpan.FromSeconds(5);
        options.ShutdownTimeout = TimeSpan.FromSeconds(5);
        // Plugins only: the working directory's scripts folder is not this test's business.
        options.Scripts.Enabled = false;
        configure?.Invoke(options);
        var errors = MtaOptionsValidator.Validate(options);
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (Environment.GetEnvironmentVariable("MTA_E2E_LOG") is { Length: > 0 })
        {
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ");
        }
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddMtaEngine(options, hooks);
        // Registered last, so it is the one every service resolves.
        if (time is not null) builder.Services.AddSingleton(time);
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            await host.Services.GetRequiredService<Mta.Engine.Spool.SegmentSpool>().RecoverAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            // Clean-up must not hide why start-up failed.
            try { await host.StopAsync(); } catch (Exception) { }
            try { host.Dispose(); } catch (Exception) { }
            if (ownsRoot) TryDelete(root);
            throw;
        }
        return new PluginServer(host, options, root, ownsRoot);
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

    public string MaildirNew(string user) => Path.Combine(Paths.MaildirRoot, user, "new");

    /// <summary>Waits (bounded) until the user's Maildir holds at least <paramref name="count"/> messages.</summary>
    public async Task<string[]> WaitForMailAsync(string user, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        var dir = MaildirNew(user);
        while (true)
        {
            var files = Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
            if (files.Length >= count) return files;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{user}: {files.Length} of {count} messages delivered to {dir}");
            await Task.Delay(20);
        }
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await _host.StopAsync(); } catch (OperationCanceledException) { }
        _host.Dispose();
        if (_ownsRoot) TryDelete(Root);
    }

    public static void TryDelete(string root)
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
