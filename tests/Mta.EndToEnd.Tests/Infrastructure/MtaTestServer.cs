// Starts the real engine in-process on a loopback port with its own temporary data folder.
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;
using Mta.Engine.Tls;
using Mta.Testing;

namespace Mta.EndToEnd.Tests.Infrastructure;

public sealed class MtaTestServer : IAsyncDisposable
{
    private readonly IHost _host;

    private readonly bool _keepDataDirectory;

    private MtaTestServer(IHost host, MtaOptions options, string root, bool keepDataDirectory)
    {
        _keepDataDirectory = keepDataDirectory;
        _host = host;
        Options = options;
        Root = root;
        Paths = new MtaPaths(options);
        EndPoints = host.Services.GetRequiredService<SmtpServer>().BoundEndPoints;
        EndPoint = EndPoints[0];
    }

    public MtaOptions Options { get; }
    public MtaPaths Paths { get; }
    public string Root { get; }
    public IPEndPoint EndPoint { get; }
    /// <summary>Every listener's endpoint, in the order of <see cref="MtaOptions.Listeners"/>.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; }
    /// <summary>The certificate TLS listeners present (null when every listener is clear text).</summary>
    public X509Certificate2? Certificate => Services.GetRequiredService<CertificateProvider>().Certificate;
    public int Port => EndPoint.Port;
    /// <summary>The server's resolver unless a test set its own: names it does not hold get SERVFAIL.</summary>
    public StubDnsServer Dns { get; private init; } = null!;
    public IServiceProvider Services => _host.Services;

    /// <summary>Local domains are <c>example.test</c> and <c>localhost</c>; no trusted networks; any local user accepted.</summary>
    /// <param name="waitForQueue">Also wait until the queue has opened (recovered) its spool, so that a test that ends
    /// at once does not stop the server in the middle of its start-up; false starts exactly as <c>mta run</c> does.</param>
    /// <param name="time">Replaces the host's clock (the engine, plugins and scripts all see it).</param>
    /// <param name="keepDataDirectory">Leave the data folder in place when the server stops (a restart test reuses it).</param>
    /// <param name="services">Adds or replaces services after the engine's own (e.g. a test <c>ITerminals</c>).</param>
    public static async Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null, string? dataDirectory = null,
        bool waitForQueue = true, TimeProvider? time = null, bool keepDataDirectory = false, Action<IServiceCollection>? services = null)
    {
        var root = dataDirectory ?? Path.Combine(Path.GetTempPath(), "mta-e2e-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(root);
        var options = new MtaOptions
        {
            HostName = "mta.test",
            DataDirectory = root,
            // Clear text unless a test asks for TLS: the plaintext tests see exactly the EHLO they expect, and no
            // certificate is generated per test.
            Listeners = [new ListenerOptions { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = ListenerTlsMode.None }],
            LocalDomains = ["example.test", "localhost"],
        };
        options.Limits.MaxConnectionsPerIp = 1000;
        // Every test client is on loopback, which is exempt from per-address limits by default; tests of those limits
        // need it counted like any client.
        options.Limits.ConnectionLimitExceptions = [];
        // Most tests send to made-up local parts; the recipient tests turn this off. No test depends on the host's accounts.
        options.Mailboxes.AcceptAnyLocalPart = true;
        options.Mailboxes.SystemUsers = false;
        // Tests never ask real DNS: a remote domain without a route gets a quick temporary DNS failure from this stub,
        // unless the test adds records to it (Dns) or points Dns:Servers at its own.
        var dns = StubDnsServer.Start();
        dns.ServFailUnknownNames = true;
        options.Dns.Servers = [dns.EndPoint.ToString()];
        options.Hooks.Timeout = TimeSpan.FromSeconds(5);
        options.ShutdownTimeout = TimeSpan.FromSeconds(5);
        configure?.Invoke(options);
        var errors = MtaOptionsValidator.Validate(options);
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // MTA_E2E_LOG=1 prints the server's log (debug level) to the test output, for diagnosing a failure.
        if (Environment.GetEnvironmentVariable("MTA_E2E_LOG") is { Length: > 0 })
        {
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ");
        }
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddMtaEngine(options, hooks);
        // A test server is a running node: it beats to Redis when its options say State:Provider Redis.
        Mta.Engine.Cluster.ClusterServiceCollectionExtensions.AddMtaHeartbeat(builder.Services);
        services?.Invoke(builder.Services);
        // Registered last, so it is the one every service resolves.
        if (time is not null) builder.Services.AddSingleton(time);
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            if (waitForQueue)
                await host.Services.GetRequiredService<Mta.Engine.Spool.SegmentSpool>().RecoverAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            // Clean-up must not hide why start-up failed.
            try { await host.StopAsync(); } catch (Exception) { }
            try { host.Dispose(); } catch (Exception) { }
            if (!keepDataDirectory) DeleteQuietly(root);
            await dns.DisposeAsync();
            throw;
        }
        return new MtaTestServer(host, options, root, keepDataDirectory) { Dns = dns };
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
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{user}: {files.Length} of {count} messages delivered to {dir}");
            await Task.Delay(20);
        }
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await _host.StopAsync(); } catch (OperationCanceledException) { }
        _host.Dispose();
        await Dns.DisposeAsync();
        if (!_keepDataDirectory) DeleteQuietly(Root);
    }

    public static void DeleteQuietly(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
