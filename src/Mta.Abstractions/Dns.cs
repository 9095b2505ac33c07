// The server's one DNS resolver as plugins and scripts see it: typed answers, failures as a status, never an exception.
using System.Net;

namespace Mta.Abstractions;

/// <summary>
/// The DNS resolver the whole server uses (MX routing, SPF, DKIM, DMARC), shared with plugins and scripts so that,
/// for example, a script can query a DNS blocklist. It asks the configured servers (<c>Dns:Servers</c>), retries as
/// configured, and caches answers for their TTL (a TTL of 0 is not cached). Thread-safe. A name-service failure
/// (SERVFAIL, timeout, a truncated answer that TCP could not complete) comes back as
/// <see cref="DnsStatus.TemporaryFailure"/>; only cancellation throws.
/// <code>
/// var listed = await Dns.GetAddressesAsync("2.0.0.127.zen.example", AddressFamily.InterNetwork, ct);
/// if (listed.Status == DnsStatus.Found &amp;&amp; listed.Records.Count > 0) ...
/// </code>
/// </summary>
public interface IDnsResolver
{
    /// <summary>TXT records of <paramref name="name"/>, one string per record: its character-strings joined with
    /// nothing between them (RFC 7208 3.3), decoded as UTF-8. CNAMEs are followed.</summary>
    ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken);

    /// <summary>A records (<see cref="System.Net.Sockets.AddressFamily.InterNetwork"/>) or AAAA records
    /// (<see cref="System.Net.Sockets.AddressFamily.InterNetworkV6"/>) of <paramref name="name"/>. CNAMEs are followed.</summary>
    ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, System.Net.Sockets.AddressFamily family, CancellationToken cancellationToken);

    /// <summary>MX records of <paramref name="name"/>, in the order the server gave them (sort by
    /// <see cref="MxHost.Preference"/> yourself). A null MX (RFC 7505) is an exchange of <c>""</c>.</summary>
    ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken);

    /// <summary>PTR names of <paramref name="address"/> (the <c>in-addr.arpa</c> or <c>ip6.arpa</c> name is built
    /// for you), without the trailing dot.</summary>
    ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken);
}

/// <summary>How a DNS query ended.</summary>
public enum DnsStatus
{
    /// <summary>The name exists. <see cref="DnsAnswer{T}.Records"/> may still be empty: the name has no record of
    /// the type asked (NODATA).</summary>
    Found,

    /// <summary>The name does not exist (NXDOMAIN).</summary>
    NotFound,

    /// <summary>No usable answer now: SERVFAIL, REFUSED, a timeout, a malformed or truncated answer. Worth asking again later.</summary>
    TemporaryFailure,
}

/// <summary>The answer to one query.</summary>
/// <typeparam name="T">The record data: <see cref="string"/> for TXT and PTR, <see cref="IPAddress"/>, <see cref="MxHost"/>.</typeparam>
/// <param name="Status">How the query ended.</param>
/// <param name="Records">The records of the type asked; empty unless <paramref name="Status"/> is <see cref="DnsStatus.Found"/>.</param>
/// <param name="Error">Why the query failed, for logs and replies (e.g. <c>SERVFAIL</c>, <c>timeout</c>); null when found.</param>
public sealed record DnsAnswer<T>(DnsStatus Status, IReadOnlyList<T> Records, string? Error = null)
{
    /// <summary>True when the name exists and has at least one record of the type asked.</summary>
    public bool HasRecords => Status == DnsStatus.Found && Records.Count > 0;

    /// <summary>A found answer.</summary>
    public static DnsAnswer<T> Found(IReadOnlyList<T> records) => new(DnsStatus.Found, records);

    /// <summary>NXDOMAIN.</summary>
    public static DnsAnswer<T> NotFound(string error) => new(DnsStatus.NotFound, [], error);

    /// <summary>A temporary failure.</summary>
    public static DnsAnswer<T> Failed(string error) => new(DnsStatus.TemporaryFailure, [], error);
}

/// <summary>One MX record.</summary>
/// <param name="Preference">Lower is tried first.</param>
/// <param name="Exchange">The mail exchanger's host name, without the trailing dot; <c>""</c> for a null MX.</param>
public sealed record MxHost(int Preference, string Exchange);
