// Parses a canonical map (Postfix canonical(5)): `user@domain new@address`, `@domain @newdomain`, `user new`.
namespace Mta.Engine.Maps;

/// <summary>The parser of canonical maps (<c>Canonical:SenderFiles</c>, <c>Canonical:RecipientFiles</c>).</summary>
public static class CanonicalFile
{
    /// <summary>Parses the file at <paramref name="path"/>; <see cref="FormatException"/> names <c>file:line</c>.</summary>
    public static AddressTable<MapTarget> Parse(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    /// <summary>Parses <paramref name="reader"/>; errors name <paramref name="name"/> and the line.</summary>
    public static AddressTable<MapTarget> Parse(TextReader reader, string name) =>
        AddressTable<MapTarget>.Parse(MapFile.Read(reader, name), name, line =>
        {
            var tokens = MapFile.SplitList(line.Value);
            if (tokens.Length != 1) throw MapFile.Error(name, line.Number, $"'{line.Key}' must map to exactly one address");
            return MapTarget.Parse(tokens[0])
                ?? throw MapFile.Error(name, line.Number, $"'{tokens[0]}' is not an address (user@domain), @domain or a user name");
        });
}
