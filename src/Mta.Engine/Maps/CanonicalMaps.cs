// The canonical maps for senders and recipients (Postfix canonical(5)), reloaded on change or SIGHUP.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Maps;

/// <summary>
/// Rewrites an address by the first canonical map (<c>Canonical:SenderFiles</c> or <c>Canonical:RecipientFiles</c>)
/// that has an entry for it: <c>user@domain</c>, then <c>user</c> for the local domains, then <c>@domain</c>. With a
/// recipient delimiter, <c>user+detail@domain</c> is looked up as written, then as <c>user@domain</c> with the detail
/// carried over to the result. One lookup, no recursion, as Postfix's cleanup does it.
/// </summary>
public sealed class CanonicalMaps : IReloadable, IDisposable
{
    private readonly MtaPaths _paths;
    private readonly ILogger _logger;
    private readonly bool _watch;
    private State _state;

    /// <exception cref="StartupException">A file is missing or does not parse; the message names its key, file and line.</exception>
    public CanonicalMaps(MtaOptions options, MtaPaths paths, ILogger<CanonicalMaps> logger, bool watch = true)
    {
        _paths = paths;
        _logger = logger;
        _watch = watch;
        _state = Build(options);
    }

    /// <inheritdoc />
    public string Name => "canonical maps";

    /// <summary>True when there is no canonical map at all.</summary>
    public bool IsEmpty => Volatile.Read(ref _state) is { Senders.Count: 0, Recipients.Count: 0 };

    /// <summary>Rewrite header fields too (<c>Canonical:RewriteHeaders</c>), for mail from trusted or authenticated clients.</summary>
    public bool RewriteHeaders => Volatile.Read(ref _state).RewriteHeaders;

    /// <inheritdoc />
    public void Reload(MtaOptions options) => Interlocked.Exchange(ref _state, Build(options)).Dispose();

    /// <summary>Problems <c>mta check</c> reports: every file of <c>Canonical</c> is read and parsed as <c>mta run</c> would.</summary>
    public static IReadOnlyList<string> Check(MtaOptions options, MtaPaths paths)
    {
        try
        {
            using var maps = new CanonicalMaps(options, paths, Microsoft.Extensions.Logging.Abstractions.NullLogger<CanonicalMaps>.Instance, watch: false);
            return [];
        }
        catch (StartupException ex)
        {
            return [ex.Message];
        }
    }

    /// <summary>The sender map's rewrite of <paramref name="address"/>; the address itself when no entry matches. The
    /// null sender is never rewritten.</summary>
    public SmtpAddress RewriteSender(SmtpAddress address)
    {
        var state = Volatile.Read(ref _state);
        return Rewrite(state.Senders, state, address);
    }

    /// <summary>The recipient map's rewrite of <paramref name="address"/>; the address itself when no entry matches.</summary>
    public SmtpAddress RewriteRecipient(SmtpAddress address)
    {
        var state = Volatile.Read(ref _state);
        return Rewrite(state.Recipients, state, address);
    }

    /// <inheritdoc />
    public void Dispose() => Volatile.Read(ref _state).Dispose();

    private static SmtpAddress Rewrite(List<ReloadingFile<AddressTable<MapTarget>>> maps, State state, SmtpAddress address)
    {
        if (maps.Count == 0 || address.IsNull) return address;
        var domain = address.Domain;
        var isLocal = domain.Length == 0 || state.LocalDomains.Contains(domain);
        var (user, detail) = AddressDetail.Split(address.LocalPart, state.Delimiter);
        foreach (var map in maps)
        {
            var table = map.Current;
            if (table.TryGetExact(address.LocalPart, domain, isLocal, out var target)) return target.Apply(address, null, state.DefaultDomain);
            if (detail is not null && table.TryGetExact(user, domain, isLocal, out target))
                return target.Apply(address, address.LocalPart[user.Length..], state.DefaultDomain);
            if (domain.Length > 0 && table.TryGetCatchAll(domain, out target)) return target.Apply(address, null, state.DefaultDomain);
        }
        return address;
    }

    private State Build(MtaOptions options)
    {
        var canonical = options.Canonical;
        var senders = MapFiles.Open(canonical.SenderFiles.Select((path, i) => ($"Canonical:SenderFiles:{i}", path)), CanonicalFile.Parse, _paths, _logger, _watch);
        try
        {
            var recipients = MapFiles.Open(canonical.RecipientFiles.Select((path, i) => ($"Canonical:RecipientFiles:{i}", path)), CanonicalFile.Parse, _paths, _logger, _watch);
            return new State(senders, recipients, new HashSet<string>(options.LocalDomains.Select(MapFile.NormalizeDomain), Domain.NameComparer),
                options.Mailboxes.RecipientDelimiter, options.LocalDomains.Count > 0 ? MapFile.NormalizeDomain(options.LocalDomains[0]) : "",
                canonical.RewriteHeaders);
        }
        catch
        {
            MapFiles.DisposeAll(senders);
            throw;
        }
    }

    private sealed record State(List<ReloadingFile<AddressTable<MapTarget>>> Senders, List<ReloadingFile<AddressTable<MapTarget>>> Recipients,
        HashSet<string> LocalDomains, string? Delimiter, string DefaultDomain, bool RewriteHeaders) : IDisposable
    {
        public void Dispose()
        {
            MapFiles.DisposeAll(Senders);
            MapFiles.DisposeAll(Recipients);
        }
    }
}
