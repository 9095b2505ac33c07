// MX, A and AAAA lookups with DnsClient: RFC 5321 5.1 ordering, implicit MX, RFC 7505 null MX, bounded and never throwing.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Dns;

namespace Mta.Engine.Outbound.Routing;

/// <summary>
/// Resolves a <see cref="NextHop"/> to addresses through DNS. For a mail domain: MX records sorted by preference,
/// shuffled within equal preference, each exchange's A and AAAA addresses in turn (at most
/// <see cref="MaxTargets"/> in all, as Postfix's smtp_mx_address_limit); the domain's own addresses when it has no
/// MX (implicit MX); <see cref="TargetResolutionStatus.NullMx"/> for a lone <c>"."</c> exchange. For a bracketed host:
/// its A and AAAA addresses. Name-service failures come back as a status, never as an exception.
/// Thread-safe; one instance serves every delivery and shares DnsClient's response cache.
/// </summary>
public sealed partial class DnsTargetResolver : ITargetResolver
{
    /// <summary>Most targets one resolution returns.</summary>
    public const int MaxTargets = 10;

    // Beyond this many MX hosts no sane zone adds targets past MaxTargets, and each one costs two queries.
    private const int MaxExchanges = 20;

    private readonly DnsResolver _dns;
    private readonly ILogger _logger;
    private readonly Random _random;
    // Random is not thread-safe, and an injected one (seeded by a test) is shared by concurrent deliveries.
    private readonly Lock _randomLock = new();

    /// <summary>Resolves through the server's one resolver (its servers, timeouts and cache).</summary>
    /// <param name="dns">The server's resolver.</param>
    /// <param name="logger">Where lookups are logged.</param>
    /// <param name="random">Orders MX hosts of equal preference; defaults to <see cref="Random.Shared"/>. A seeded
    /// instance makes the order reproducible.</param>
    public DnsTargetResolver(DnsResolver dns, ILogger<DnsTargetResolver> logger, Random? random = null)
    {
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _random = random ?? Random.Shared;
    }

    /// <inheritdoc />
    public async Task<TargetResolution> ResolveAsync(NextHop hop, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(hop);
        ct.ThrowIfCancellationRequested();
        var result = await ResolveCoreAsync(hop, ct).ConfigureAwait(false);
        if (_logger.IsEnabled(LogLevel.Debug))
            LogResolved(hop.Name, result.Status, string.Join(", ", result.Targets), result.Detail);
        return result;
    }

    private async Task<TargetResolution> ResolveCoreAsync(NextHop hop, CancellationToken ct)
    {
        var host = hop.Host.Trim().TrimEnd('.');
        if (host.StartsWith('[') && host.EndsWith(']'))
            host = host[1..^1];
        if (host.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            host = host[5..];
        // An address has no MX records, whatever UseMx says.
        if (NextHopSelector.TryParseIp(host, out var literal))
            return Found([new SmtpTarget(literal.ToString(), literal, hop.Port)], $"address {literal}");

        var type = hop.UseMx ? QueryType.MX : QueryType.A;
        if (DnsResolver.ToAsciiName(host) is not { } name)
            return new TargetResolution(TargetResolutionStatus.NotFound, [], DnsResolver.Error(host, type, "invalid domain name"));
        return hop.UseMx
            ? await ResolveMailDomainAsync(name, hop.Port, ct).ConfigureAwait(false)
            : await ResolveHostAsync(name, hop.Port, ct).ConfigureAwait(false);
    }

    private async Task<TargetResolution> ResolveHostAsync(string host, int port, CancellationToken ct)
    {
        var addresses = await ResolveAddressesAsync(host, additional: null, ct).ConfigureAwait(false);
        if (addresses.Addresses.Count > 0)
            return Found(addresses.Addresses.Take(MaxTargets).Select(a => new SmtpTarget(host, a, port)).ToList(), $"host {host}");
        return NotFoundOrTemporary(addresses.Temporary, addresses.Detail);
    }

    private async Task<TargetResolution> ResolveMailDomainAsync(string domain, int port, CancellationToken ct)
    {
        var mx = await QueryAsync(domain, QueryType.MX, ct).ConfigureAwait(false);
        if (mx.Status == LookupStatus.NxDomain)
            return new TargetResolution(TargetResolutionStatus.NotFound, [], mx.Detail);
        if (mx.Status == LookupStatus.Temporary)
            return new TargetResolution(TargetResolutionStatus.TemporaryFailure, [], mx.Detail);

        var records = mx.Records.OfType<MxRecord>().ToList();
        if (records.Count == 0)
        {
            // RFC 5321 5.1: no MX records means the domain itself is the one, preference-0 mail exchanger.
            LogImplicitMx(domain);
            var own = await ResolveAddressesAsync(domain, additional: null, ct).ConfigureAwait(false);
            if (own.Addresses.Count > 0)
                return Found(own.Addresses.Take(MaxTargets).Select(a => new SmtpTarget(domain, a, port)).ToList(), $"no MX for {domain}, its own address records used");
            return NotFoundOrTemporary(own.Temporary, own.Detail);
        }

        // RFC 7505: a null MX is the only MX record; a stray "." next to real hosts is ignored like any bad record.
        var exchanges = records.Where(r => DnsResolver.NormalizeName(r.Exchange.Value).Length > 0).ToList();
        if (exchanges.Count == 0)
        {
            LogNullMx(domain);
            return new TargetResolution(TargetResolutionStatus.NullMx, [], $"Domain {domain} does not accept mail (null MX)");
        }

        var ordered = Order(exchanges);
        var lookups = ordered.Select(x => ResolveAddressesAsync(x, mx.Additionals, ct)).ToArray();
        var results = await Task.WhenAll(lookups).ConfigureAwait(false);

        var targets = new List<SmtpTarget>();
        var seen = new HashSet<IPAddress>();
        var failures = new List<string>();
        var temporary = false;
        for (var i = 0; i < ordered.Count; i++)
        {
            var result = results[i];
            if (result.Addresses.Count == 0)
            {
                LogExchangeSkipped(ordered[i], domain, result.Detail);
                failures.Add(result.Detail);
                temporary |= result.Temporary;
                continue;
            }
            foreach (var address in result.Addresses)
            {
                // Two MX names for one address would only make the client try the same server twice.
                if (targets.Count < MaxTargets && seen.Add(address))
                    targets.Add(new SmtpTarget(ordered[i], address, port));
            }
        }
        if (targets.Count > 0)
            return Found(targets, $"MX of {domain}: {string.Join(", ", ordered)}");
        return NotFoundOrTemporary(temporary, $"No address for any MX host of {domain}: {string.Join("; ", failures)}");
    }

    /// <summary>Exchange names (no trailing dot, duplicates dropped) by ascending preference, shuffled within each
    /// preference so that equal hosts share the load (RFC 5321 5.1).</summary>
    private List<string> Order(List<MxRecord> exchanges)
    {
        var ordered = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        lock (_randomLock)
        {
            foreach (var group in exchanges.GroupBy(r => r.Preference).OrderBy(g => g.Key))
            {
                var equal = group.Select(r => r.Exchange.Value.TrimEnd('.')).ToArray();
                _random.Shuffle(equal);
                foreach (var name in equal)
                {
                    if (names.Add(name) && ordered.Count < MaxExchanges)
                        ordered.Add(name);
                }
            }
        }
        return ordered;
    }

    /// <summary>A and AAAA addresses of <paramref name="host"/>, IPv4 first, taken from the MX answer's additional
    /// section when it carries them, else queried.</summary>
    private async Task<HostAddresses> ResolveAddressesAsync(string host, IReadOnlyList<DnsResourceRecord>? additional, CancellationToken ct)
    {
        if (additional is not null)
        {
            var glue = additional
                .Where(r => r is ARecord or AaaaRecord && DnsResolver.SameName(r.DomainName.Value, host))
                .OrderBy(r => r is AaaaRecord)
                .Select(r => ((AddressRecord)r).Address)
                .Distinct()
                .ToList();
            if (glue.Count > 0)
                return new HostAddresses(glue, false, "");
        }

        var v4 = QueryAsync(host, QueryType.A, ct);
        var v6 = QueryAsync(host, QueryType.AAAA, ct);
        var a = await v4.ConfigureAwait(false);
        var aaaa = await v6.ConfigureAwait(false);
        var addresses = a.Records.OfType<ARecord>().Select(r => r.Address)
            .Concat(aaaa.Records.OfType<AaaaRecord>().Select(r => r.Address))
            .Distinct()
            .ToList();
        if (addresses.Count > 0)
            return new HostAddresses(addresses, false, "");
        if (a.Status == LookupStatus.Temporary)
            return new HostAddresses([], true, a.Detail);
        if (aaaa.Status == LookupStatus.Temporary)
            return new HostAddresses([], true, aaaa.Detail);
        return new HostAddresses([], false, a.Status == LookupStatus.NxDomain ? a.Detail : aaaa.Detail);
    }

    private async Task<Lookup> QueryAsync(string name, QueryType type, CancellationToken ct)
    {
        var lookup = await _dns.LookupAsync(name, type, ct).ConfigureAwait(false);
        var status = lookup.Status switch
        {
            DnsStatus.Found => LookupStatus.Ok,
            DnsStatus.NotFound => LookupStatus.NxDomain,
            _ => LookupStatus.Temporary,
        };
        return new Lookup(status, lookup.Records, lookup.Additionals, lookup.Detail);
    }

    private static TargetResolution Found(IReadOnlyList<SmtpTarget> targets, string detail) =>
        new(TargetResolutionStatus.Found, targets, detail);

    private static TargetResolution NotFoundOrTemporary(bool temporary, string detail) =>
        new(temporary ? TargetResolutionStatus.TemporaryFailure : TargetResolutionStatus.NotFound, [], detail);

    private enum LookupStatus { Ok, NxDomain, Temporary }

    private sealed record Lookup(LookupStatus Status, IReadOnlyList<DnsResourceRecord> Records, IReadOnlyList<DnsResourceRecord> Additionals, string Detail);

    private sealed record HostAddresses(IReadOnlyList<IPAddress> Addresses, bool Temporary, string Detail);

    [LoggerMessage(EventId = LogEvents.Dns.NextHopResolved, Level = LogLevel.Debug, Message = "Next hop {Hop}: {Status} [{Targets}] ({Detail})")]
    private partial void LogResolved(string hop, TargetResolutionStatus status, string targets, string detail);

    [LoggerMessage(EventId = LogEvents.Dns.ImplicitMx, Level = LogLevel.Debug, Message = "{Domain} has no MX records; its own A/AAAA records are used (RFC 5321 5.1)")]
    private partial void LogImplicitMx(string domain);

    [LoggerMessage(EventId = LogEvents.Dns.NullMx, Level = LogLevel.Information, Message = "{Domain} publishes a null MX (RFC 7505): it accepts no mail")]
    private partial void LogNullMx(string domain);

    [LoggerMessage(EventId = LogEvents.Dns.ExchangeSkipped, Level = LogLevel.Information, Message = "MX host {Exchange} of {Domain} skipped: {Detail}")]
    private partial void LogExchangeSkipped(string exchange, string domain, string detail);
}
