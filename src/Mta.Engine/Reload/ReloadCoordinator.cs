// Runs one reload at a time: reads and validates the configuration file again, hands it to every IReloadable, or refuses it whole.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Reload;

/// <summary>
/// The one place a reload happens (SIGHUP and <c>mta reload</c> both come here). A configuration that does not bind or
/// validate is refused before anything changes. A valid one goes to every <see cref="IReloadable"/> in registration
/// order; when one of them cannot take it (a certificate that does not load, an unreadable map), those already changed
/// get the configuration in service again, so the server never runs half of each. Changed keys that only a restart
/// applies are named in one warning.
/// </summary>
public sealed partial class ReloadCoordinator
{
    /// <summary>
    /// Keys (and everything under them) that a reload applies. Any other changed key is reported as needing a restart.
    /// A component that makes more settings live adds their section here along with its <see cref="IReloadable"/>.
    /// </summary>
    public static readonly IReadOnlyList<string> LiveKeys =
    [
        "LocalDomains", "Mailboxes:Users", "Relay:TrustedNetworks",
        "Tls:CertificateFile", "Tls:KeyFile", "Tls:Password", "Tls:RsaCertificateFile", "Tls:RsaKeyFile", "Tls:RsaPassword",
        "Tls:MinimumProtocol", "Tls:CipherSuites", "Tls:AllowCbcSuites",
        "Auth:UsersFile",
        // The address maps: each reloads its file list and files (aliases, virtual, canonical, relay domains).
        "Aliases", "Virtual", "Canonical", "Relay:Domains",
    ];

    private readonly IConfigurationReader _reader;
    private readonly MtaOptions _running;
    private readonly IServiceProvider _services;
    private readonly ILogger<ReloadCoordinator> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private MtaOptions _current;

    /// <param name="reader">Reads the configuration file again.</param>
    /// <param name="running">The options the server started with (the singleton every component holds).</param>
    /// <param name="services">Where the <see cref="IReloadable"/>s are resolved, at the first reload (not before the host
    /// built them).</param>
    /// <param name="logger">The reload log lines.</param>
    public ReloadCoordinator(IConfigurationReader reader, MtaOptions running, IServiceProvider services, ILogger<ReloadCoordinator> logger)
    {
        _reader = reader;
        _running = running;
        _current = running;
        _services = services;
        _logger = logger;
    }

    /// <summary>Reloads once; a reload asked for while one runs waits for it.</summary>
    public async Task<ReloadResult> ReloadAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Components re-read files synchronously; off the caller's thread (a signal handler or a control connection).
            return await Task.Run(ReloadNow, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private ReloadResult ReloadNow()
    {
        var source = _reader.Started.Source;
        ConfigurationSnapshot next;
        try
        {
            next = _reader.Read();
        }
        catch (InvalidConfigurationException ex)
        {
            return Refuse(ex.File, ex.Errors);
        }

        var reloadables = _services.GetServices<IReloadable>().ToList();
        var applied = new List<IReloadable>(reloadables.Count);
        var errors = new List<string>();
        foreach (var reloadable in reloadables)
        {
            try
            {
                reloadable.Reload(next.Options);
                applied.Add(reloadable);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                errors.Add($"{reloadable.Name}: {ex.Message}");
                // Each component is all or nothing; the next ones are not asked, so fewer need undoing.
                break;
            }
        }
        if (errors.Count > 0)
        {
            foreach (var reloadable in applied)
            {
                try
                {
                    reloadable.Reload(_current);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogRollbackFailed(reloadable.Name, ex.Message);
                }
            }
            return Refuse(next.Source, errors);
        }

        ApplyLiveSettings(next.Options);
        _current = next.Options;
        _reader.Applied();
        var names = applied.Select(r => r.Name).ToArray();
        LogReloaded(next.Source, names.Length == 0 ? "(nothing)" : string.Join(", ", names));
        var restart = RestartKeys(_reader.Started.Values, next.Values);
        if (restart.Count > 0) LogNeedsRestart(next.Source, string.Join(", ", restart));
        return new ReloadResult(true, source, names, [], restart);
    }

    private ReloadResult Refuse(string source, IReadOnlyList<string> errors)
    {
        LogRefused(source, string.Join("; ", errors));
        return new ReloadResult(false, source, [], errors, []);
    }

    // Components that read these from the shared options object (rather than a snapshot of their own) see the new
    // values: each list is replaced whole, so a reader enumerating the old one is not disturbed.
    private void ApplyLiveSettings(MtaOptions next)
    {
        _running.LocalDomains = next.LocalDomains;
        _running.Mailboxes.Users = next.Mailboxes.Users;
        _running.Relay.TrustedNetworks = next.Relay.TrustedNetworks;
    }

    /// <summary>The changed keys outside <see cref="LiveKeys"/>, shortened to their setting (a list's items are one
    /// setting: <c>Listeners</c>, not <c>Listeners:0:Port</c>).</summary>
    public static IReadOnlyList<string> RestartKeys(IReadOnlyDictionary<string, string?> started, IReadOnlyDictionary<string, string?> next)
    {
        var changed = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in started.Keys.Union(next.Keys, StringComparer.OrdinalIgnoreCase))
        {
            started.TryGetValue(key, out var before);
            next.TryGetValue(key, out var after);
            if (string.Equals(before, after, StringComparison.Ordinal) || IsLive(key)) continue;
            changed.Add(SettingOf(key));
        }
        return [.. changed];
    }

    private static bool IsLive(string key) =>
        LiveKeys.Any(live => key.Equals(live, StringComparison.OrdinalIgnoreCase)
            || (key.StartsWith(live, StringComparison.OrdinalIgnoreCase) && key.Length > live.Length && key[live.Length] == ':'))
        // Log levels are read by the logging system, not the engine; a change is not worth a restart warning.
        || key.StartsWith("Logging:", StringComparison.OrdinalIgnoreCase);

    private static string SettingOf(string key)
    {
        var segments = key.Split(':');
        var end = Array.FindIndex(segments, s => s.Length > 0 && s.All(char.IsAsciiDigit));
        return end <= 0 ? key : string.Join(':', segments[..end]);
    }

    [LoggerMessage(EventId = LogEvents.Reload.Reloaded, Level = LogLevel.Information, Message = "configuration {Source} reloaded: {Components}")]
    private partial void LogReloaded(string source, string components);

    [LoggerMessage(EventId = LogEvents.Reload.Refused, Level = LogLevel.Error, Message = "configuration {Source} refused, the configuration in service stays: {Errors}")]
    private partial void LogRefused(string source, string errors);

    [LoggerMessage(EventId = LogEvents.Reload.NeedsRestart, Level = LogLevel.Warning, Message = "configuration {Source}: changed settings that take effect only after a restart: {Keys}")]
    private partial void LogNeedsRestart(string source, string keys);

    [LoggerMessage(EventId = LogEvents.Reload.RollbackFailed, Level = LogLevel.Error, Message = "reload refused, and {Component} could not take the configuration in service back: {Reason}")]
    private partial void LogRollbackFailed(string component, string reason);
}
