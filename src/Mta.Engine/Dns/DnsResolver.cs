// The server's one DNS resolver (DnsClient): configured servers, CNAME chains followed, failures as a status, a TTL cache.
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Dns;

/// <summary>
/// Every DNS query of the server goes through here: MX routing, SPF, DKIM key and DMARC record lookups, and the
/// resolver handed to plugins and scripts. Answers are cached for their TTL with <see cref="TimeProvider"/> time, so
/// tests control expiry; DnsClient's own cache is off because it keeps TTL-0 answers and cannot be given a clock.
/// Thread-safe; never throws but for cancellation.
/// </summary>
public sealed partial class DnsResolver : IDnsResolver
{
    private const int MaxCnameDepth = 8;

    private readonly LookupClient _dns;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _cacheSize;
    private readonly Telemetry.MtaMetrics? _metrics;
    private readonly ConcurrentDictionary<(QueryType Type, string Name), CachedLookup> _cache = new();

    /// <summary>Builds the resolver from <c>Dns</c>.</summary>
    /// <exception cref="StartupException">A <c>Dns:Servers</c> entry is not <c>IP</c> or <c>IP:PORT</c>.</exception>
    /// <param name="options">The servers, timeout, retries and cache size.</param>
    /// <param name="time">The cache's clock.</param>
    /// <param name="logger">Temporary failures.</param>
    /// <param name="metrics">Where each query's duration is measured; null: nowhere.</param>
    public DnsResolver(DnsOptions options, TimeProvider time, ILogger<DnsResolver> logger, Telemetry.MtaMetrics? metrics = null)
    {
        _metrics = metrics;
        ArgumentNullException.ThrowIfNull(options);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _cacheSize = options.CacheSize;

        var servers = new IPEndPoint[options.Servers.Count];
        for (var i = 0; i < servers.Length; i++)
        {
            servers[i] = TryParseServer(options.Servers[i])
                ?? throw new StartupException($"Dns:Servers:{i}: '{options.Servers[i]}' is not IP or IP:PORT");
        }
        var lookup = servers.Length > 0 ? new LookupClientOptions(servers) : new LookupClientOptions();
        lookup.UseCache = false;
        lookup.Timeout = options.Timeout;
        lookup.Retries = options.Retries;
        lookup.ThrowDnsErrors = false;
        // Another server may answer what one failed (SERVFAIL), but an empty answer (NODATA) is an answer.
        lookup.ContinueOnDnsError = true;
        lookup.ContinueOnEmptyResponse = false;
        lookup.UseTcpFallback = true;
        _dns = new LookupClient(lookup);
        LogServers(servers.Length > 0 ? string.Join(", ", servers.Select(s => s.ToString())) : "system resolvers");
    }

    /// <summary>Parses a <c>Dns:Servers</c> entry: <c>IP</c>, <c>IP:PORT</c> or <c>[IPv6]:PORT</c>; port 53 when none is
    /// given. Null when it is none of those.</summary>
    public static IPEndPoint? TryParseServer(string? value)
    {
        var text = value?.Trim();
        if (string.IsNullOrEmpty(text) || !IPEndPoint.TryParse(text, out var endPoint))
            return null;
        // IPEndPoint also takes legacy forms such as "10.1" (10.0.0.1); a resolver address is written in full.
        if (endPoint.AddressFamily == AddressFamily.InterNetwork && text.Split(':')[0].Split('.').Length != 4)
            return null;
        return endPoint.Port == 0 ? new IPEndPoint(endPoint.Address, 53) : endPoint;
    }

    /// <inheritdoc />
    public async ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken)
    {
        var lookup = await LookupAsync(name, QueryType.TXT, cancellationToken).ConfigureAwait(false);
        return lookup.ToAnswer(r => r is TxtRecord txt ? JoinTxt(txt) : null);
    }

    /// <inheritdoc />
    public async ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken)
    {
        var type = family switch
        {
            AddressFamily.InterNetwork => QueryType.A,
            AddressFamily.InterNetworkV6 => QueryType.AAAA,
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "InterNetwork (A) or InterNetworkV6 (AAAA)"),
        };
        var lookup = await LookupAsync(name, type, cancellationToken).ConfigureAwait(false);
        return lookup.ToAnswer(r => r is AddressRecord a ? a.Address : null);
    }

    /// <inheritdoc />
    public async ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken)
    {
        var lookup = await LookupAsync(name, QueryType.MX, cancellationToken).ConfigureAwait(false);
        return lookup.ToAnswer(r => r is MxRecord mx ? new MxHost(mx.Preference, NormalizeName(mx.Exchange.Value)) : null);
    }

    /// <inheritdoc />
    public async ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var lookup = await LookupAsync(ReverseName(address), QueryType.PTR, cancellationToken).ConfigureAwait(false);
        return lookup.ToAnswer(r => r is PtrRecord ptr ? NormalizeName(ptr.PtrDomainName.Value) : null);
    }

    /// <summary>The <c>in-addr.arpa</c> or <c>ip6.arpa</c> name of an address (RFC 1035 3.5, RFC 3596 2.5).</summary>
    public static string ReverseName(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        var sb = new StringBuilder(72);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            for (var i = bytes.Length - 1; i >= 0; i--) sb.Append(bytes[i]).Append('.');
            return sb.Append("in-addr.arpa").ToString();
        }
        for (var i = bytes.Length - 1; i >= 0; i--)
            sb.Append("0123456789abcdef"[bytes[i] & 0xf]).Append('.').Append("0123456789abcdef"[bytes[i] >> 4]).Append('.');
        return sb.Append("ip6.arpa").ToString();
    }

    /// <summary>One query with the CNAME chain followed, from the cache when it holds a live answer. For the server's
    /// own components that need the raw records (MX glue in the additional section).</summary>
    internal async ValueTask<DnsLookup> LookupAsync(string name, QueryType type, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (ToAsciiName(name.Trim().TrimEnd('.')) is not { } ascii)
            return DnsLookup.Failed(DnsStatus.NotFound, Error(name, type, "invalid domain name"));
        var key = (type, ascii.ToLowerInvariant());
        var now = _time.GetUtcNow();
        if (_cacheSize > 0 && _cache.TryGetValue(key, out var cached))
        {
            if (cached.Expires > now) return cached.Lookup;
            _cache.TryRemove(KeyValuePair.Create(key, cached));
        }

        var started = _metrics?.DnsEnabled == true ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        var (lookup, ttl) = await QueryAsync(ascii, type, ct).ConfigureAwait(false);
        if (started != 0) _metrics!.DnsLookup(TypeName(type), lookup.Status, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        if (_cacheSize > 0 && ttl > TimeSpan.Zero)
        {
            if (_cache.Count >= _cacheSize) Evict(now);
            _cache[key] = new CachedLookup(lookup, now + ttl);
        }
        return lookup;
    }

    // The record types the server asks for, named without a per-lookup allocation; any other is "other".
    private static string TypeName(QueryType type) => type switch
    {
        QueryType.A => "A",
        QueryType.AAAA => "AAAA",
        QueryType.MX => "MX",
        QueryType.TXT => "TXT",
        QueryType.PTR => "PTR",
        QueryType.CNAME => "CNAME",
        QueryType.TLSA => "TLSA",
        QueryType.SRV => "SRV",
        _ => "other",
    };

    /// <summary>Drops expired answers; when none had expired, drops everything (a full cache of live answers means a
    /// flood of distinct names, and those are cheaper to ask again than to rank).</summary>
    private void Evict(DateTimeOffset now)
    {
        foreach (var entry in _cache)
        {
            if (entry.Value.Expires <= now) _cache.TryRemove(entry);
        }
        if (_cache.Count >= _cacheSize) _cache.Clear();
    }

    private async Task<(DnsLookup Lookup, TimeSpan Ttl)> QueryAsync(string name, QueryType type, CancellationToken ct)
    {
        var current = name;
        var ttl = TimeSpan.MaxValue;
        for (var depth = 0; depth < MaxCnameDepth; depth++)
        {
            IDnsQueryResponse response;
            try
            {
                response = await _dns.QueryAsync(current, type, QueryClass.IN, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                // DnsClient reports our own cancellation as a timeout; it is not one.
                ct.ThrowIfCancellationRequested();
                var reason = ex is DnsResponseException { Code: DnsResponseCode.ConnectionTimeout } ? "timeout"
                    : ex is DnsResponseException dns ? dns.DnsError
                    : ex.Message;
                LogTemporary(current, type.ToString(), reason);
                return (DnsLookup.Failed(DnsStatus.TemporaryFailure, Error(current, type, $"Host not found, try again ({reason})")), TimeSpan.Zero);
            }

            var code = response.Header.ResponseCode;
            if (code == DnsHeaderResponseCode.NotExistentDomain)
                return (DnsLookup.Failed(DnsStatus.NotFound, Error(current, type, "Host not found")), Min(ttl, NegativeTtl(response)));
            if (code != DnsHeaderResponseCode.NoError)
            {
                var reason = RcodeName(code);
                LogTemporary(current, type.ToString(), reason);
                return (DnsLookup.Failed(DnsStatus.TemporaryFailure, Error(current, type, $"Host not found, try again ({reason})")), TimeSpan.Zero);
            }

            var (records, chain, end) = FollowChain(response.Answers, current, type);
            foreach (var record in chain.Concat(records))
                ttl = Min(ttl, TimeSpan.FromSeconds(Math.Max(0, record.InitialTimeToLive)));
            if (records.Count > 0)
                return (new DnsLookup(DnsStatus.Found, records, response.Additionals, ""), ttl);
            if (SameName(end, current))
                return (new DnsLookup(DnsStatus.Found, [], [], Error(current, type, "Host found but no data record of requested type")), Min(ttl, NegativeTtl(response)));
            // The answer stopped at a CNAME without its target's records (a non-recursive server): ask for the target.
            current = end;
        }
        return (new DnsLookup(DnsStatus.TemporaryFailure, [], [], Error(name, type, "CNAME chain too long")), TimeSpan.Zero);
    }

    /// <summary>RFC 2308 5: a negative answer lives for the smaller of its SOA's TTL and MINIMUM; without an SOA, not at all.</summary>
    private static TimeSpan NegativeTtl(IDnsQueryResponse response)
    {
        var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
        return soa is null ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min((long)Math.Max(0, soa.InitialTimeToLive), soa.Minimum));
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Records of <paramref name="type"/> owned by <paramref name="name"/> or by any name its CNAME chain in
    /// <paramref name="answers"/> leads to, the CNAME records of that chain, and its last name.</summary>
    private static (List<DnsResourceRecord> Records, List<DnsResourceRecord> Chain, string End) FollowChain(
        IReadOnlyList<DnsResourceRecord> answers, string name, QueryType type)
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { NormalizeName(name) };
        var chain = new List<DnsResourceRecord>();
        var end = NormalizeName(name);
        if (type != QueryType.CNAME)
        {
            for (var i = 0; i < MaxCnameDepth; i++)
            {
                var cname = answers.OfType<CNameRecord>().FirstOrDefault(c => NormalizeName(c.DomainName.Value) == end);
                if (cname is null)
                    break;
                chain.Add(cname);
                end = NormalizeName(cname.CanonicalName.Value);
                if (!names.Add(end))
                    break;
            }
        }
        var records = answers
            .Where(r => (int)r.RecordType == (int)type && names.Contains(NormalizeName(r.DomainName.Value)))
            .ToList();
        return (records, chain, end);
    }

    /// <summary>A TXT record's character-strings joined with nothing between them (RFC 7208 3.3, RFC 6376 3.6.2.2),
    /// decoded as UTF-8 from DnsClient's unescaped text.</summary>
    private static string JoinTxt(TxtRecord txt) => string.Concat(txt.Text);

    // Postfix's wording, which operators grep for.
    internal static string Error(string name, QueryType type, string what) =>
        $"Host or domain name not found. Name service error for name={name} type={type}: {what}";

    private static string RcodeName(DnsHeaderResponseCode code) => code switch
    {
        DnsHeaderResponseCode.FormatError => "FORMERR",
        DnsHeaderResponseCode.ServerFailure => "SERVFAIL",
        DnsHeaderResponseCode.NotImplemented => "NOTIMP",
        DnsHeaderResponseCode.Refused => "REFUSED",
        _ => $"RCODE {(int)code}",
    };

    /// <summary>The A-label (punycode) form of a name, or null when it cannot be a DNS name.</summary>
    internal static string? ToAsciiName(string name)
    {
        string ascii;
        try
        {
            ascii = name.All(char.IsAscii) ? name : new IdnMapping().GetAscii(name);
        }
        catch (ArgumentException)
        {
            return null;
        }
        if (ascii.Length is 0 or > 253)
            return null;
        foreach (var label in ascii.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.Any(c => c <= ' ' || c == 0x7f))
                return null;
        }
        return ascii;
    }

    /// <summary>Lower case, no trailing dot, A-labels: DnsClient hands back owner names of <c>xn--</c> labels decoded to
    /// Unicode, while queries go out (and are compared) as A-labels.</summary>
    internal static string NormalizeName(string name)
    {
        var trimmed = name.TrimEnd('.');
        if (!trimmed.All(char.IsAscii) && ToAsciiName(trimmed) is { } ascii) trimmed = ascii;
        return trimmed.ToLowerInvariant();
    }

    internal static bool SameName(string a, string b) => NormalizeName(a) == NormalizeName(b);

    private sealed record CachedLookup(DnsLookup Lookup, DateTimeOffset Expires);

    [LoggerMessage(EventId = LogEvents.Dns.Servers, Level = LogLevel.Debug, Message = "DNS lookups go to {Servers}")]
    private partial void LogServers(string servers);

    [LoggerMessage(EventId = LogEvents.Dns.TemporaryFailure, Level = LogLevel.Warning, Message = "DNS lookup of {Name} type={Type} failed temporarily: {Reason}")]
    private partial void LogTemporary(string name, string type, string reason);
}

/// <summary>One query's outcome: the records of the type asked (CNAMEs followed), the additional section, and a
/// Postfix-worded detail for a failure or an empty answer.</summary>
internal sealed record DnsLookup(DnsStatus Status, IReadOnlyList<DnsResourceRecord> Records, IReadOnlyList<DnsResourceRecord> Additionals, string Detail)
{
    public static DnsLookup Failed(DnsStatus status, string detail) => new(status, [], [], detail);

    public DnsAnswer<T> ToAnswer<T>(Func<DnsResourceRecord, T?> select) where T : class =>
        Status == DnsStatus.Found
            ? DnsAnswer<T>.Found(Records.Select(select).Where(v => v is not null).Select(v => v!).ToList())
            : new DnsAnswer<T>(Status, [], Detail);
}
