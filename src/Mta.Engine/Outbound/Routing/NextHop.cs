// The next hop one recipient domain's mail goes to: the unit of grouping, resilience and logging on the way out.
using Mta.Engine.Configuration;

namespace Mta.Engine.Outbound.Routing;

/// <summary>Where mail for a recipient domain is sent, and how.</summary>
/// <param name="Name">The destination key used for grouping recipients into one transaction, for the per-destination
/// Polly pipeline and for logs: the domain itself (lower-cased) for MX delivery, or <c>host:port</c> /
/// <c>[host]:port</c> as configured for a route or the smart host, so that every domain sent through one smart host
/// shares one destination.</param>
/// <param name="Host">The name to look up (a mail domain when <paramref name="UseMx"/>, else a host name), or an IP
/// address; never in brackets.</param>
/// <param name="UseMx">Look up MX records for <paramref name="Host"/> (RFC 5321 5.1); false connects to the host's
/// own addresses (Postfix's <c>[host]</c>).</param>
/// <param name="Port">TCP port of every target.</param>
/// <param name="Tls">TLS policy towards this hop.</param>
/// <param name="UserName">AUTH user name, or null for no AUTH.</param>
/// <param name="Password">AUTH password (from the config or its password file), or null.</param>
/// <param name="Hold">Mail for this hop waits in the queue until ETRN or TURN asks for it (<see cref="NextHopOptions.Hold"/>).</param>
/// <param name="UseChunking">Send with BDAT when the hop offers CHUNKING (<see cref="NextHopOptions.UseChunking"/>).</param>
public sealed record NextHop(string Name, string Host, bool UseMx, int Port, OutboundTlsPolicy Tls, string? UserName, string? Password, bool Hold = false,
    bool UseChunking = true)
{
    /// <summary>
    /// What makes deliveries share a destination (one transaction, one pipeline, one connection cache): the name plus
    /// the TLS policy, the AUTH identity, hold and BDAT use. Two routes to one host with different TLS, AUTH or BDAT
    /// use must never share a transaction or a cached connection.
    /// </summary>
    public string Key => Tls == OutboundTlsPolicy.May && UserName is null && !Hold && UseChunking
        ? Name
        : $"{Name}|tls={Tls}|user={UserName}|hold={Hold}" + (UseChunking ? "" : "|bdat=off");

    /// <summary>The <see cref="Name"/> part of a <see cref="Key"/>.</summary>
    internal static ReadOnlySpan<char> NameOfKey(string key)
    {
        var bar = key.IndexOf('|', StringComparison.Ordinal);
        return bar < 0 ? key : key.AsSpan(0, bar);
    }

    /// <summary>Leaves the password out, so a hop can be logged as it is.</summary>
    public override string ToString() =>
        $"{Name} (host={Host}, mx={UseMx}, port={Port}, tls={Tls}{(UserName is null ? "" : $", user={UserName}")}{(UseChunking ? "" : ", bdat=off")})";
}
