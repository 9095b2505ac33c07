// Parses a virtual alias file (Postfix virtual(5)): `user@domain target, target`, `@domain target`, `user target`.
namespace Mta.Engine.Maps;

/// <summary>The parser of virtual alias files (<c>Virtual:AliasFiles</c>).</summary>
public static class VirtualAliasFile
{
    /// <summary>Parses the file at <paramref name="path"/>; <see cref="FormatException"/> names <c>file:line</c>.</summary>
    public static AddressTable<MapTarget[]> Parse(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    /// <summary>Parses <paramref name="reader"/>; errors name <paramref name="name"/> and the line.</summary>
    public static AddressTable<MapTarget[]> Parse(TextReader reader, string name) =>
        AddressTable<MapTarget[]>.Parse(MapFile.Read(reader, name), name, line =>
        {
            var tokens = MapFile.SplitList(line.Value);
            if (tokens.Length == 0) throw MapFile.Error(name, line.Number, $"'{line.Key}' has no target");
            var targets = new MapTarget[tokens.Length];
            for (var i = 0; i < tokens.Length; i++)
            {
                targets[i] = MapTarget.Parse(tokens[i])
                    ?? throw MapFile.Error(name, line.Number, $"'{tokens[i]}' is not an address (user@domain), @domain or a user name");
            }
            return targets;
        });
}
