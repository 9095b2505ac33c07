// The "Dns" section: the servers, timeouts and cache of the one resolver the whole server shares.
namespace Mta.Engine.Configuration;

/// <summary>The server's DNS resolver: MX routing, SPF, DKIM, DMARC, and the resolver plugins and scripts get.</summary>
public sealed class DnsOptions
{
    /// <summary>DNS servers as <c>IP</c> or <c>IP:PORT</c> (<c>[IPv6]:PORT</c>). Defaults to none: the system's resolvers
    /// (/etc/resolv.conf).</summary>
    public List<string> Servers { get; set; } = [];

    /// <summary>How long one query waits for an answer before it is retried or fails as a temporary error. Defaults to
    /// 5 s (the resolv.conf default).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an unanswered query is sent again. Defaults to 2 (three tries in all, as resolv.conf's
    /// <c>attempts:3</c>).</summary>
    public int Retries { get; set; } = 2;

    /// <summary>Most answers kept in the cache. An answer is kept for its TTL (the smallest of its records'; a TTL of 0
    /// is not kept), a negative answer for its SOA's negative TTL (RFC 2308), a failure not at all. 0 turns the cache
    /// off. Defaults to 10000.</summary>
    public int CacheSize { get; set; } = 10_000;
}
