// The line format shared by the map files (virtual, canonical, relay recipients): comments, continuations, key and value.
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Maps;

/// <summary>One entry of a map file: its line number, its key and the rest of the line (empty when none).</summary>
internal readonly record struct MapLine(int Number, string Key, string Value);

/// <summary>
/// Reads a map file as Postfix's postmap reads a source file: blank lines and lines whose first non-blank character is
/// <c>#</c> are ignored, a line that starts with white space continues the previous entry, and an entry is a key, white
/// space, and a value. Errors are <see cref="FormatException"/>s that name the file and line, so a bad edit is found.
/// </summary>
internal static class MapFile
{
    /// <summary>The entries of the file at <paramref name="path"/>.</summary>
    public static List<MapLine> Read(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader, path);
    }

    /// <summary>The entries of <paramref name="reader"/>; <paramref name="name"/> is the file name errors give.</summary>
    public static List<MapLine> Read(TextReader reader, string name)
    {
        var entries = new List<MapLine>();
        var number = 0;
        var start = 0;
        System.Text.StringBuilder? current = null;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            number++;
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#') continue;
            if (char.IsWhiteSpace(line[0]))
            {
                if (current is null) throw Error(name, number, "a continuation line (starting with white space) with no entry before it");
                current.Append(' ').Append(trimmed);
                continue;
            }
            if (current is not null) entries.Add(Split(current.ToString(), start));
            current = new System.Text.StringBuilder(trimmed);
            start = number;
        }
        if (current is not null) entries.Add(Split(current.ToString(), start));
        return entries;
    }

    /// <summary>An error naming <c>file:line</c>.</summary>
    public static FormatException Error(string name, int line, string why) => new($"{name}:{line}: {why}");

    /// <summary>Parses one address of a map: <c>user@domain</c> (quoted local parts allowed, UTF-8 allowed), or null when
    /// <paramref name="token"/> is not one.</summary>
    public static SmtpAddress? ParseAddress(string token)
    {
        if (token.Length == 0 || token[0] == '@' || !token.Contains('@', StringComparison.Ordinal)) return null;
        // A fully qualified domain's root dot (example.org.) names the same domain.
        var path = "<" + (token.EndsWith('.') ? token[..^1] : token) + ">";
        return SmtpPathParser.TryParseForwardPath(path, allowUtf8: true, out var address, out var consumed, out _) && consumed == path.Length
            ? address : null;
    }

    /// <summary>True when <paramref name="domain"/> is a domain name a key or target may use.</summary>
    public static bool IsDomain(string domain) => domain.Length > 0 && SmtpPathParser.IsValidDomain(domain.TrimEnd('.'), allowUtf8: true);

    /// <summary>The values of a list (<c>a, b c</c>): separated by commas or white space.</summary>
    public static string[] SplitList(string value) =>
        value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The domain as keys are compared: lower case, no trailing dot.</summary>
    public static string NormalizeDomain(string domain) => domain.TrimEnd('.').ToLowerInvariant();

    private static MapLine Split(string entry, int number)
    {
        var at = entry.AsSpan().IndexOfAny(' ', '\t');
        return at < 0 ? new MapLine(number, entry, "") : new MapLine(number, entry[..at], entry[(at + 1)..].Trim());
    }
}
