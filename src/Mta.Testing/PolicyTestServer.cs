// The real engine in-process for policy tests: given scripts and plugins, a loopback port, a temporary data folder.
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;

namespace Mta.Testing;

/// <summary>A plugin for <see cref="PolicyTestServer"/> to load.</summary>
/// <param name="Name">Its name (the key under <c>Plugins</c>).</param>
/// <param name="Path">Its build output folder or main .dll.</param>
public sealed record PolicyTestPlugin(string Name, string Path)
{
    /// <summary>Its settings (<c>Plugins:NAME:Settings</c>), keys nested with <c>:</c>.</summary>
    public IDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    /// <summary>Its order among plugins.</summary>
    public int Order { get; init; }
}

/// <summary>What a <see cref="PolicyTestServer"/> loads and how it is set up.</summary>
public sealed class PolicyTestServerOptions
{
    /// <summary>Script files (.csx) to load; they are copied, names kept, into the server's own scripts folder.</summary>
    public List<string> Scripts { get; } = [];

    /// <summary>Settings under <c>Scripts:Settings</c>, keys nested with <c>:</c> (e.g. <c>blocklist:Senders:0</c>).</summary>
    public Dictionary<string, string?> ScriptSettings { get; } = [];

    /// <summary>Plugins to load.</summary>
    public List<PolicyTestPlugin> Plugins { get; } = [];

    /// <summary>The local domains; any local part is a mailbox. Defaults to <c>example.test</c>.</summary>
    public List<string> LocalDomains { get; } = ["example.test"];

    /// <summary>Accepted messages are not queued: a last queue handler takes them (replying 250 "held by the test
    /// server"), so nothing is delivered. Defaults to false: messages to local domains land in the Maildir.</summary>
    public bool HoldMessages { get; set; }

    /// <summary>Changes any engine option last (e.g. <c>o => o.Hooks.Timeout = ...</c>).</summary>
    public Action<MtaOptions>? Configure { get; set; }
}

/// <summary>One handler's decision, as the server logged it.</summary>
/// <param name="Hook">The hook's context type, e.g. <c>RcptContext</c>.</param>
/// <param name="Handler">The handler's name (a script's file, a plugin's handler name).</param>
/// <param name="Result">What it decided.</param>
public sealed record HookDecisionRecord(string Hook, string Handler, HookResult Result);

/// <summary>
/// The real Mta engine in-process on 127.0.0.1 (port chosen by the system), with the given scripts and plugins, a
/// stub DNS server that answers NXDOMAIN unless given records (no test reaches the network) and its data (queue, Maildir) in a temporary
/// folder deleted at <see cref="DisposeAsync"/>. Every hook handler's decision is recorded in <see cref="Decisions"/>.
/// </summary>
public sealed class PolicyTestServer : IAsyncDisposable
{
    private const string HoldOwner = "policy-test-hold";
    private readonly IHost _host;
    private readonly DecisionLog _log;
    private readonly StubDnsServer? _dns;
    private readonly bool _ownsRoot;
    private int _disposed;

    private PolicyTestServer(IHost host, DecisionLog log, MtaOptions options, StubDnsServer? dns, bool ownsRoot)
    {
        _host = host;
        _log = log;
        _dns = dns;
        _ownsRoot = ownsRoot;
        Options = options;
        EndPoint = host.Services.GetRequiredService<Mta.Engine.Receiver.SmtpServer>().BoundEndPoints[0];
    }

    /// <summary>The options the engine runs with.</summary>
    public MtaOptions Options { get; }

    /// <summary>The data folder (queue, Maildir): temporary unless the caller gave one.</summary>
    public string Root => Options.DataDirectory;

    /// <summary>The SMTP listener's address.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The stub DNS server the engine asks (null when the caller's options name their own servers); add
    /// records to it to answer a script's or plugin's lookups.</summary>
    public StubDnsServer? Dns => _dns;

    /// <summary>Every handler decision so far, in order (connect, helo, mail, rcpt, data, data_post, queue...).</summary>
    public IReadOnlyList<HookDecisionRecord> Decisions => _log.Decisions;

    /// <summary>Warnings and errors the server logged (a handler that threw, a script that failed to compile...).</summary>
    public IReadOnlyList<string> Problems => _log.Problems;

    /// <summary>Starts a server with the given scripts and plugins.</summary>
    public static Task<PolicyTestServer> StartAsync(PolicyTestServerOptions setup, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(setup);
        var root = Path.Combine(Path.GetTempPath(), "mta-policy-" + Guid.NewGuid().ToString("n")[..12]);
        var scripts = Path.Combine(root, "scripts");
        Directory.CreateDirectory(scripts);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        foreach (var script in setup.Scripts)
            File.Copy(script, Path.Combine(scripts, Path.GetFileName(script)));

        var options = new MtaOptions
        {
            HostName = "mta.test",
            DataDirectory = root,
            Listeners = [new ListenerOptions { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = ListenerTlsMode.None }],
            LocalDomains = [.. setup.LocalDomains],
            PluginsDirectory = Path.Combine(root, "plugins"),
        };
        options.Mailboxes.AcceptAnyLocalPart = true;
        options.Mailboxes.SystemUsers = false;
        options.Scripts.Directory = scripts;
        // A test loads its scripts once; a watcher would only add a thread.
        options.Scripts.Watch = false;
        options.Scripts.Settings = Section(setup.ScriptSettings);
        foreach (var plugin in setup.Plugins)
            options.Plugins[plugin.Name] = new PluginOptions { Path = Path.GetFullPath(plugin.Path), Order = plugin.Order, Settings = Section(plugin.Settings) };
        options.ShutdownTimeout = TimeSpan.FromSeconds(5);
        setup.Configure?.Invoke(options);
        return StartAsync(options, setup.HoldMessages, ownsRoot: true, cancellationToken);
    }

    /// <summary>Starts the engine with options the caller built (<c>mta test</c> passes a site's configuration with its
    /// listeners and data folder replaced). With no <c>Dns:Servers</c>, a stub DNS server that answers NXDOMAIN is used.</summary>
    /// <param name="options">The options; their listeners should be loopback port 0.</param>
    /// <param name="holdMessages">See <see cref="PolicyTestServerOptions.HoldMessages"/>.</param>
    /// <param name="ownsRoot">Delete <see cref="MtaOptions.DataDirectory"/> when the server stops.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public static async Task<PolicyTestServer> StartAsync(MtaOptions options, bool holdMessages, bool ownsRoot, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        StubDnsServer? dns = null;
        if (options.Dns.Servers.Count == 0)
        {
            // NXDOMAIN for every name it was not given: SPF and DNSBL lookups find nothing, quickly and quietly.
            dns = StubDnsServer.Start();
            options.Dns.Servers = [dns.EndPoint.ToString()];
        }
        var errors = MtaOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            if (dns is not null) await dns.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(string.Join("; ", errors));
        }

        var log = new DecisionLog();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter(typeof(HookPipeline).FullName, LogLevel.Debug);
        builder.Logging.AddProvider(log);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddMtaEngine(options);
        var host = builder.Build();
        if (holdMessages)
            host.Services.GetRequiredService<HookPipeline>().ForOwner(HoldOwner, int.MaxValue).Register<QueueContext>("hold",
                (_, _) => ValueTask.FromResult(HookResult.Accept("held by the test server, not queued", 250, "2.0.0")));
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Clean-up must not hide why start-up failed.
            try { host.Dispose(); } catch (Exception) { }
            if (ownsRoot) DeleteQuietly(options.DataDirectory);
            if (dns is not null) await dns.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new PolicyTestServer(host, log, options, dns, ownsRoot);
    }

    /// <summary>A raw SMTP client connected to the server; its first reply to read is the greeting.</summary>
    public Task<SmtpTestClient> ConnectAsync(CancellationToken cancellationToken = default) => SmtpTestClient.ConnectAsync(EndPoint, cancellationToken);

    /// <summary>The messages delivered so far to a local user's Maildir (<c>new/</c>), as file paths.</summary>
    public string[] Delivered(string user)
    {
        var folder = Path.Combine(new MtaPaths(Options).MaildirRoot, user, "new");
        return Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
    }

    /// <summary>Waits (bounded) until a local user's Maildir holds at least <paramref name="count"/> messages.</summary>
    public async Task<string[]> WaitForDeliveryAsync(string user, int count = 1, TimeSpan? timeout = null)
    {
        await Conditions.WaitUntilAsync(() => Delivered(user).Length >= count, $"{count} message(s) in {user}'s Maildir",
            timeout ?? TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        return Delivered(user);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await _host.StopAsync().ConfigureAwait(false); } catch (OperationCanceledException) { }
        _host.Dispose();
        if (_dns is not null) await _dns.DisposeAsync().ConfigureAwait(false);
        if (_ownsRoot) DeleteQuietly(Options.DataDirectory);
    }

    private static IConfigurationSection Section(IDictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(kv => new KeyValuePair<string, string?>("s:" + kv.Key, kv.Value)))
            .Build().GetSection("s");

    private static void DeleteQuietly(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Keeps the hook pipeline's per-handler decisions and every warning or error.</summary>
    private sealed class DecisionLog : ILoggerProvider, ILogger
    {
        private readonly Lock _lock = new();
        private readonly List<HookDecisionRecord> _decisions = [];
        private readonly List<string> _problems = [];

        public IReadOnlyList<HookDecisionRecord> Decisions { get { lock (_lock) return [.. _decisions]; } }
        public IReadOnlyList<string> Problems { get { lock (_lock) return [.. _problems]; } }

        public ILogger CreateLogger(string categoryName) => this;
        public void Dispose() { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lock)
            {
                if (eventId.Id == HookTraceEventId && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
                {
                    var values = fields.ToDictionary(f => f.Key, f => f.Value);
                    _decisions.Add(new HookDecisionRecord((string)values["Hook"]!, (string)values["Handler"]!, (HookResult)values["Result"]!));
                }
                else if (logLevel >= LogLevel.Warning)
                {
                    _problems.Add($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})")}");
                }
            }
        }
    }

    private const int HookTraceEventId = LogEvents.HookTrace.Decided;
}
