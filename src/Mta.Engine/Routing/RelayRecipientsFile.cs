// Parses a relay domain's recipients file (Postfix relay_recipient_maps): one address or `@domain` a line.
using Mta.Abstractions;
using Mta.Engine.Maps;

namespace Mta.Engine.Routing;

/// <summary>The valid recipients of a relay domain: addresses, and <c>@domain</c> for any user of a domain.</summary>
public sealed class RelayRecipientList
{
    private readonly HashSet<string> _addresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _domains = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Entries in the list.</summary>
    public int Count => _addresses.Count + _domains.Count;

    /// <summary>Parses the file at <paramref name="path"/>; <see cref="FormatException"/> names <c>file:line</c>.</summary>
    public static RelayRecipientList Parse(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    /// <summary>Parses <paramref name="reader"/>. A value after the address (Postfix's <c>OK</c>) is allowed and ignored.</summary>
    public static RelayRecipientList Parse(TextReader reader, string name)
    {
        var list = new RelayRecipientList();
        foreach (var line in MapFile.Read(reader, name))
        {
            var key = line.Key;
            if (key.StartsWith('@'))
            {
                if (!MapFile.IsDomain(key[1..])) throw MapFile.Error(name, line.Number, $"'{key}' is not @domain");
                list._domains.Add(MapFile.NormalizeDomain(key[1..]));
            }
            else if (MapFile.ParseAddress(key) is { } address)
            {
                list._addresses.Add(address.LocalPart + "@" + MapFile.NormalizeDomain(address.Domain));
            }
            else
            {
                throw MapFile.Error(name, line.Number, $"'{key}' is not an address (user@domain) or @domain");
            }
        }
        return list;
    }

    /// <summary>True when <paramref name="address"/> is listed: as written, by its user part without the detail
    /// (<paramref name="delimiters"/>), or by its domain.</summary>
    public bool Contains(SmtpAddress address, string? delimiters)
    {
        var domain = MapFile.NormalizeDomain(address.Domain);
        if (_addresses.Contains(address.LocalPart + "@" + domain)) return true;
        var (user, detail) = AddressDetail.Split(address.LocalPart, delimiters);
        return (detail is not null && _addresses.Contains(user + "@" + domain)) || _domains.Contains(domain);
    }
}
