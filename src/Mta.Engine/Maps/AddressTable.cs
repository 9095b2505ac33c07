// A parsed address map (virtual or canonical): exact `user@domain` keys, bare `user` keys for local domains, `@domain` catch-alls.
using Mta.Abstractions;

namespace Mta.Engine.Maps;

/// <summary>
/// The right side of a map entry: an address, <c>@domain</c> (the same local part at another domain), or a bare local
/// part (an address of the first local domain).
/// </summary>
/// <param name="LocalPart">The local part; null for <c>@domain</c>, which keeps the original one.</param>
/// <param name="Domain">The domain, normalized; empty for a bare local part.</param>
public readonly record struct MapTarget(string? LocalPart, string Domain)
{
    /// <summary>Parses one target; null when <paramref name="token"/> is none of the three forms.</summary>
    public static MapTarget? Parse(string token)
    {
        if (token.StartsWith('@'))
            return MapFile.IsDomain(token[1..]) ? new MapTarget(null, MapFile.NormalizeDomain(token[1..])) : null;
        if (token.Contains('@', StringComparison.Ordinal))
            return MapFile.ParseAddress(token) is { } address ? new MapTarget(address.LocalPart, MapFile.NormalizeDomain(address.Domain)) : null;
        return Delivery.MailboxNames.IsValid(token) ? new MapTarget(token, "") : null;
    }

    /// <summary>
    /// The address this target makes of <paramref name="original"/>. <paramref name="extension"/> is the unmatched
    /// detail (with its delimiter) when only the user part of the original matched: it is appended to the target's local
    /// part, as Postfix's <c>propagate_unmatched_extensions</c> does for canonical and virtual maps.
    /// </summary>
    public SmtpAddress Apply(SmtpAddress original, string? extension, string defaultDomain)
    {
        var local = LocalPart is null ? original.LocalPart : LocalPart + extension;
        return new SmtpAddress(local, Domain.Length > 0 ? Domain : defaultDomain);
    }

    /// <inheritdoc />
    public override string ToString() => LocalPart is null ? "@" + Domain : Domain.Length == 0 ? LocalPart : LocalPart + "@" + Domain;
}

/// <summary>
/// One map file's entries by key kind, as Postfix's table lookups go for virtual(5) and canonical(5): <c>user@domain</c>
/// first, then <c>user</c> (only for addresses in the local domains), then <c>@domain</c>. Keys match without case.
/// Immutable once parsed, so lookups take no lock.
/// </summary>
/// <typeparam name="T">The value of an entry: a target list (virtual) or one target (canonical).</typeparam>
public sealed class AddressTable<T>
{
    private readonly Dictionary<string, T> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, T> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, T> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _keyDomains = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Entries in the table.</summary>
    public int Count => _exact.Count + _users.Count + _domains.Count;

    /// <summary>The domains named on left sides (<c>user@domain</c> and <c>@domain</c> keys), normalized.</summary>
    public IReadOnlySet<string> KeyDomains => _keyDomains;

    /// <summary>Parses <paramref name="lines"/>; <paramref name="value"/> turns one entry's right side into its value
    /// (throwing <see cref="FormatException"/> on a bad one).</summary>
    internal static AddressTable<T> Parse(IEnumerable<MapLine> lines, string name, Func<MapLine, T> value)
    {
        var table = new AddressTable<T>();
        foreach (var line in lines)
        {
            if (line.Value.Length == 0) throw MapFile.Error(name, line.Number, $"'{line.Key}' has no value");
            var parsed = value(line);
            var key = line.Key;
            var at = key.LastIndexOf('@');
            if (at == 0)
            {
                var domain = key[1..];
                if (!MapFile.IsDomain(domain)) throw MapFile.Error(name, line.Number, $"'{key}' is not @domain");
                table._domains.TryAdd(MapFile.NormalizeDomain(domain), parsed);
                table._keyDomains.Add(MapFile.NormalizeDomain(domain));
            }
            else if (at > 0)
            {
                if (MapFile.ParseAddress(key) is not { } address) throw MapFile.Error(name, line.Number, $"'{key}' is not an address (user@domain)");
                var domain = MapFile.NormalizeDomain(address.Domain);
                // The first entry for a key wins, as in a Postfix table built from the same source.
                table._exact.TryAdd(address.LocalPart + "@" + domain, parsed);
                table._keyDomains.Add(domain);
            }
            else
            {
                if (key.Contains('"', StringComparison.Ordinal) || key.Length > Delivery.MailboxNames.MaxOctets)
                    throw MapFile.Error(name, line.Number, $"'{key}' is not a user name, user@domain or @domain");
                table._users.TryAdd(key, parsed);
            }
        }
        return table;
    }

    /// <summary>The entry for <paramref name="localPart"/>@<paramref name="domain"/>, or for the bare
    /// <paramref name="localPart"/> when <paramref name="domainIsLocal"/>.</summary>
    public bool TryGetExact(string localPart, string domain, bool domainIsLocal, out T value)
    {
        if (_exact.Count > 0 && _exact.TryGetValue(localPart + "@" + MapFile.NormalizeDomain(domain), out value!)) return true;
        if (domainIsLocal && _users.TryGetValue(localPart, out value!)) return true;
        value = default!;
        return false;
    }

    /// <summary>The <c>@domain</c> entry of <paramref name="domain"/>.</summary>
    public bool TryGetCatchAll(string domain, out T value) => _domains.TryGetValue(MapFile.NormalizeDomain(domain), out value!);
}
