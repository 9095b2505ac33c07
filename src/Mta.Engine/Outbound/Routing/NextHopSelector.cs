// Picks the next hop of a recipient domain from the transport map (Relay:Routes), the smart host or the domain's MX.
using System.Net;
using Mta.Engine.Configuration;

namespace Mta.Engine.Outbound.Routing;

/// <summary>
/// Resolves a recipient domain to its <see cref="NextHop"/>, as Postfix's transport map and relayhost do: an exact
/// <c>Relay:Routes</c> key wins, then the longest <c>.suffix</c> key matching a subdomain, then
/// <c>Relay:SmartHost</c>, else the domain's own MX hosts. Configured hops are built (and password files read) once,
/// at construction; <see cref="Select"/> does no I/O and is thread-safe.
/// </summary>
public sealed class NextHopSelector
{
    private const int DefaultPort = 25;

    private readonly Dictionary<string, NextHop> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly NextHop? _smartHost;
    private readonly OutboundTlsPolicy _defaultTls;
    private readonly bool _defaultChunking;

    /// <summary>Builds the hops of <c>Relay:Routes</c> and <c>Relay:SmartHost</c>.</summary>
    /// <exception cref="StartupException">A <c>PasswordFile</c> cannot be read; the message names its key.</exception>
    public NextHopSelector(MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var relay = options.Relay;
        var paths = new MtaPaths(options);
        _defaultTls = relay.Tls;
        _defaultChunking = relay.UseChunking;
        foreach (var (key, entry) in relay.Routes)
        {
            _routes[NormalizeDomain(key)] = Build(entry ?? throw new StartupException($"Relay:Routes:{key}: must have a Host"),
                relay, $"Relay:Routes:{key}", paths);
        }
        if (relay.SmartHost is { } smartHost)
            _smartHost = Build(smartHost, relay, "Relay:SmartHost", paths);
    }

    /// <summary>The next hop for mail to <paramref name="recipientDomain"/> (the part after the <c>@</c>, which may
    /// be an address literal such as <c>[192.0.2.1]</c> or <c>[IPv6:2001:db8::1]</c>).</summary>
    public NextHop Select(string recipientDomain)
    {
        ArgumentNullException.ThrowIfNull(recipientDomain);
        var domain = NormalizeDomain(recipientDomain);
        var literal = TryParseAddressLiteral(domain);

        // Route keys are domain names, so an address literal never matches one; the smart host still takes it,
        // as Postfix's relayhost overrides every non-local destination.
        if (literal is null && RouteFor(domain) is { } route)
            return route;
        if (_smartHost is not null)
            return _smartHost;
        return literal is not null
            ? new NextHop(domain, literal.ToString(), UseMx: false, DefaultPort, _defaultTls, null, null, UseChunking: _defaultChunking)
            : new NextHop(domain, domain, UseMx: true, DefaultPort, _defaultTls, null, null, UseChunking: _defaultChunking);
    }

    /// <summary>The transport-map entry (<c>Relay:Routes</c>) for <paramref name="recipientDomain"/>: the domain's own
    /// entry, else the one of its nearest <c>.parent</c>; null when the map has none.</summary>
    public NextHop? RouteFor(string recipientDomain)
    {
        ArgumentNullException.ThrowIfNull(recipientDomain);
        var domain = NormalizeDomain(recipientDomain);
        if (_routes.TryGetValue(domain, out var exact))
            return exact;
        for (var dot = domain.IndexOf('.'); dot >= 0; dot = domain.IndexOf('.', dot + 1))
        {
            if (_routes.TryGetValue(domain[dot..], out var parent))
                return parent;
        }
        return null;
    }

    /// <summary>The IP address inside an RFC 5321 address literal (<c>[192.0.2.1]</c>, <c>[IPv6:2001:db8::1]</c>),
    /// or null when <paramref name="value"/> is not one.</summary>
    internal static IPAddress? TryParseAddressLiteral(string value)
    {
        if (value.Length < 3 || value[0] != '[' || value[^1] != ']')
            return null;
        var inner = value[1..^1];
        if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            return TryParseIp(inner[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? v6 : null;
        return TryParseIp(inner, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? v4 : null;
    }

    /// <summary>Parses an IPv4 address in dotted-quad form or an IPv6 address. Unlike <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>
    /// it refuses legacy forms such as <c>10.1</c> or <c>1234</c>, which are host names to anyone writing them.</summary>
    internal static bool TryParseIp(string? value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(value) || !IPAddress.TryParse(value, out var parsed))
            return false;
        if (parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (value.Count(c => c == '.') != 3 || value.Contains(':')))
            return false;
        address = parsed;
        return true;
    }

    /// <summary>Splits a configured <c>Host</c> into the name to look up and whether to use MX: <c>[x]</c> means the
    /// host itself, a bare name a mail domain. A bare IP address cannot have MX records, so it is taken as if
    /// bracketed. Returns null when the value is empty.</summary>
    internal static (string Host, bool UseMx)? ParseHost(string? configured)
    {
        var value = configured?.Trim();
        if (string.IsNullOrEmpty(value))
            return null;
        if (value.Length >= 2 && value[0] == '[' && value[^1] == ']')
        {
            var inner = value[1..^1].Trim();
            if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                inner = inner[5..];
            return inner.Length == 0 ? null : (NormalizeDomain(inner), false);
        }
        if (TryParseIp(value, out _))
            return (value, false);
        return (NormalizeDomain(value), true);
    }

    private static NextHop Build(NextHopOptions entry, RelayOptions relay, string key, MtaPaths paths)
    {
        var parsed = ParseHost(entry.Host) ?? throw new StartupException($"{key}:Host: must not be empty");
        var password = entry.Password;
        if (password is null && entry.PasswordFile is { Length: > 0 } file)
            password = ReadPasswordFile(paths.Resolve(file), $"{key}:PasswordFile");
        // The name keeps the configured form, so [relay]:25 and relay:25 (MX of relay) stay two destinations.
        var name = $"{entry.Host.Trim().ToLowerInvariant()}:{entry.Port}";
        return new NextHop(name, parsed.Host, parsed.UseMx, entry.Port, entry.Tls ?? relay.Tls, entry.UserName, password, entry.Hold,
            entry.UseChunking ?? relay.UseChunking);
    }

    private static string ReadPasswordFile(string path, string key)
    {
        string? first;
        try
        {
            using var reader = new StreamReader(path);
            first = reader.ReadLine();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"{key}: cannot read '{path}': {ex.Message}", ex);
        }
        var password = first?.Trim();
        if (string.IsNullOrEmpty(password))
            throw new StartupException($"{key}: '{path}' holds no password on its first line");
        return password;
    }

    // Lower case and no trailing root dot: the forms "Example.ORG." and "example.org" are one destination.
    private static string NormalizeDomain(string value) => value.Trim().TrimEnd('.').ToLowerInvariant();
}
