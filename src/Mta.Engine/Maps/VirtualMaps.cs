// The virtual mailbox domains with their users, and the virtual alias files: the tables, reloaded on change or SIGHUP.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Maps;

/// <summary>
/// The tables behind <c>Virtual</c>: which domains are virtual mailbox domains and who their users are
/// (<c>Users</c> plus a reloading <c>UsersFile</c>), and the virtual alias files, each a <see cref="ReloadingFile{T}"/>.
/// <see cref="Reload"/> takes changed options (new domains, files, delimiter) as one swap: readers see the old tables
/// or the new ones, never a mix, and a new set that cannot be read leaves the old one in service.
/// </summary>
public sealed partial class VirtualMaps : IReloadable, IDisposable
{
    private readonly MtaPaths _paths;
    private readonly ILogger _logger;
    private readonly bool _watch;
    private State _state;

    /// <param name="options">The configuration.</param>
    /// <param name="paths">Resolves the configured file paths.</param>
    /// <param name="logger">Where reloads and failed reloads are logged.</param>
    /// <param name="watch">Watch the files for changes (false for <c>mta check</c>).</param>
    /// <exception cref="StartupException">A file is missing or does not parse; the message names its key, file and line.</exception>
    public VirtualMaps(MtaOptions options, MtaPaths paths, ILogger<VirtualMaps> logger, bool watch = true)
    {
        _paths = paths;
        _logger = logger;
        _watch = watch;
        _state = Build(options);
        if (_state.AliasFiles.Count + _state.Domains.Count > 0)
            LogLoaded(_logger, _state.Domains.Count, _state.AliasFiles.Count, _state.AliasFiles.Sum(f => f.Current.Count));
    }

    /// <inheritdoc />
    public string Name => "virtual maps";

    /// <summary>The recipient delimiter (<c>Mailboxes:RecipientDelimiter</c>), or null.</summary>
    public string? Delimiter => Volatile.Read(ref _state).Delimiter;

    /// <summary>The domain unqualified targets (<c>bob</c>) are given: the first local domain, else none.</summary>
    public string DefaultDomain => Volatile.Read(ref _state).DefaultDomain;

    /// <summary>True when there is no virtual domain and no alias file: nothing to look up.</summary>
    public bool IsEmpty => Volatile.Read(ref _state) is { Domains.Count: 0, AliasFiles.Count: 0 };

    /// <inheritdoc />
    public void Reload(MtaOptions options)
    {
        var next = Build(options);
        var previous = Interlocked.Exchange(ref _state, next);
        previous.Dispose();
    }

    /// <summary>Problems <c>mta check</c> reports: every file of <c>Virtual</c> is read and parsed as <c>mta run</c> would.</summary>
    public static IReadOnlyList<string> Check(MtaOptions options, MtaPaths paths)
    {
        try
        {
            using var maps = new VirtualMaps(options, paths, Microsoft.Extensions.Logging.Abstractions.NullLogger<VirtualMaps>.Instance, watch: false);
            return [];
        }
        catch (StartupException ex)
        {
            return [ex.Message];
        }
    }

    /// <summary>True for a local domain (<c>LocalDomains</c>), or no domain at all.</summary>
    public bool IsLocalDomain(string domain) => domain.Length == 0 || Volatile.Read(ref _state).LocalDomains.Contains(domain);

    /// <summary>True for a virtual mailbox domain (<c>Virtual:Domains</c>).</summary>
    public bool IsMailboxDomain(string domain) => domain.Length > 0 && Volatile.Read(ref _state).Domains.ContainsKey(MapFile.NormalizeDomain(domain));

    /// <summary>True when <paramref name="user"/> has a mailbox in the virtual mailbox domain <paramref name="domain"/>.</summary>
    public bool HasMailbox(string domain, string user) =>
        Volatile.Read(ref _state).Domains.TryGetValue(MapFile.NormalizeDomain(domain), out var d) && d.Has(user);

    /// <summary>True for a domain named on the left side of an alias file that is neither local nor a virtual mailbox
    /// domain: a virtual alias domain, whose every address must be an alias (Postfix's virtual_alias_domains default).</summary>
    public bool IsAliasDomain(string domain)
    {
        if (domain.Length == 0) return false;
        var state = Volatile.Read(ref _state);
        var normalized = MapFile.NormalizeDomain(domain);
        if (state.LocalDomains.Contains(normalized) || state.Domains.ContainsKey(normalized)) return false;
        foreach (var file in state.AliasFiles)
            if (file.Current.KeyDomains.Contains(normalized)) return true;
        return false;
    }

    /// <summary>The targets of the alias <paramref name="localPart"/>@<paramref name="domain"/> (or of the bare local
    /// part, for a local domain): the first file with an entry wins.</summary>
    public bool TryGetAlias(string localPart, string domain, out MapTarget[] targets)
    {
        var state = Volatile.Read(ref _state);
        var isLocal = domain.Length == 0 || state.LocalDomains.Contains(domain);
        foreach (var file in state.AliasFiles)
            if (file.Current.TryGetExact(localPart, domain, isLocal, out targets)) return true;
        targets = [];
        return false;
    }

    /// <summary>The targets of the catch-all <c>@domain</c> entry of <paramref name="domain"/>.</summary>
    public bool TryGetCatchAll(string domain, out MapTarget[] targets)
    {
        targets = [];
        if (domain.Length == 0) return false;
        foreach (var file in Volatile.Read(ref _state).AliasFiles)
            if (file.Current.TryGetCatchAll(domain, out targets)) return true;
        return false;
    }

    /// <inheritdoc />
    public void Dispose() => Volatile.Read(ref _state).Dispose();

    private State Build(MtaOptions options)
    {
        var virtualOptions = options.Virtual;
        var aliasFiles = MapFiles.Open(virtualOptions.AliasFiles.Select((path, i) => ($"Virtual:AliasFiles:{i}", path)),
            VirtualAliasFile.Parse, _paths, _logger, _watch);
        var domains = new Dictionary<string, VirtualDomain>(StringComparer.OrdinalIgnoreCase);
        try
        {
            foreach (var (name, domain) in virtualOptions.Domains)
            {
                var normalized = MapFile.NormalizeDomain(name);
                ReloadingFile<IReadOnlySet<string>>? file = null;
                if (domain?.UsersFile is { Length: > 0 } usersFile)
                    file = MapFiles.Open($"Virtual:Domains:{name}:UsersFile", usersFile, path => VirtualUsersFile.Parse(path, normalized), _paths, _logger, _watch);
                domains[normalized] = new VirtualDomain(new HashSet<string>(domain?.Users ?? [], StringComparer.OrdinalIgnoreCase), file);
            }
        }
        catch
        {
            MapFiles.DisposeAll(aliasFiles);
            foreach (var d in domains.Values) d.Dispose();
            throw;
        }
        var localDomains = new HashSet<string>(options.LocalDomains.Select(MapFile.NormalizeDomain), Domain.NameComparer);
        return new State(domains, aliasFiles, localDomains, options.Mailboxes.RecipientDelimiter,
            options.LocalDomains.Count > 0 ? MapFile.NormalizeDomain(options.LocalDomains[0]) : "");
    }

    private sealed record State(Dictionary<string, VirtualDomain> Domains, List<ReloadingFile<AddressTable<MapTarget[]>>> AliasFiles,
        HashSet<string> LocalDomains, string? Delimiter, string DefaultDomain) : IDisposable
    {
        public void Dispose()
        {
            MapFiles.DisposeAll(AliasFiles);
            foreach (var d in Domains.Values) d.Dispose();
        }
    }

    private sealed class VirtualDomain(HashSet<string> users, ReloadingFile<IReadOnlySet<string>>? file) : IDisposable
    {
        public bool Has(string user) => users.Contains(user) || (file?.Current.Contains(user) ?? false);
        public void Dispose() => file?.Dispose();
    }

    [LoggerMessage(EventId = LogEvents.Maps.MapsLoaded, Level = LogLevel.Information, Message = "virtual maps: {Domains} virtual mailbox domain(s), {Files} alias file(s) with {Entries} entries")]
    private static partial void LogLoaded(ILogger logger, int domains, int files, int entries);
}
