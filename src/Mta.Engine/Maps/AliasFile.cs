// Parses an alias file in /etc/aliases format (and :include: lists) into immutable tables of targets.
using System.Globalization;
using System.Text;

namespace Mta.Engine.Maps;

/// <summary>What one alias target names.</summary>
public enum AliasTargetKind
{
    /// <summary>A local name (<c>alice</c>): another alias, or a mailbox user.</summary>
    Local,
    /// <summary>An address with a domain (<c>bob@example.org</c>): a local domain's name is looked up again, any other forwarded.</summary>
    Address,
    /// <summary><c>/path</c>: the message is appended to this file (mbox).</summary>
    File,
    /// <summary><c>|command</c>: the message is fed to this shell command.</summary>
    Command,
    /// <summary><c>:include:/path</c>: more targets, read from this file.</summary>
    Include,
}

/// <summary>One target of an alias.</summary>
/// <param name="Kind">What it names.</param>
/// <param name="Value">The name, address, path or command line, unquoted.</param>
/// <param name="NoExpand">A <c>\name</c>: the mailbox of that user, never an alias again.</param>
public sealed record AliasTarget(AliasTargetKind Kind, string Value, bool NoExpand = false);

/// <summary>One alias: its name (lower case), its targets, and the line it starts on.</summary>
public sealed record AliasEntry(string Name, IReadOnlyList<AliasTarget> Targets, int Line);

/// <summary>
/// An alias file as parsed: <c>name: target, target</c> entries, continued on lines that start with white space;
/// <c>#</c> comment lines and blank lines are skipped; names and targets may be quoted (<c>"|/usr/bin/cmd arg"</c>).
/// Names are case-insensitive. A name given twice keeps its first entry (as postalias does) and is noted in
/// <see cref="Warnings"/>. Anything else malformed is a <see cref="FormatException"/> naming <c>file:line</c>.
/// </summary>
public sealed class AliasFile
{
    private AliasFile(string path, IReadOnlyDictionary<string, AliasEntry> entries, IReadOnlyList<string> warnings)
    {
        Path = path;
        Entries = entries;
        Warnings = warnings;
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>The aliases by name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, AliasEntry> Entries { get; }

    /// <summary>Lines that parsed but are probably mistakes (a name given twice), as <c>file:line: text</c>.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Reads and parses <paramref name="path"/>.</summary>
    public static AliasFile Load(string path) => Parse(path, File.ReadAllText(path));

    /// <summary>Parses <paramref name="text"/>, the content of <paramref name="path"/> (named in errors).</summary>
    public static AliasFile Parse(string path, string text)
    {
        var entries = new Dictionary<string, AliasEntry>(StringComparer.OrdinalIgnoreCase);
        var warnings = new List<string>();
        foreach (var (line, logical) in LogicalLines(path, text, continuations: true))
        {
            var colon = IndexOutsideQuotes(logical, ':');
            if (colon < 0) throw Error(path, line, "expected 'name: target, ...'");
            var name = Unquote(path, line, logical[..colon].Trim());
            if (name.Length == 0) throw Error(path, line, "the alias name is empty");
            if (name.Contains('@', StringComparison.Ordinal)) throw Error(path, line, $"'{name}': an alias name is a local part, without a domain");
            var targets = ParseTargets(path, line, logical[(colon + 1)..]);
            if (targets.Count == 0) throw Error(path, line, $"'{name}' has no targets");
            var key = name.ToLowerInvariant();
            if (!entries.TryAdd(key, new AliasEntry(key, targets, line)))
                warnings.Add($"{path}:{line}: duplicate alias '{key}' ignored; the first entry (line {entries[key].Line}) is used");
        }
        return new AliasFile(path, entries, warnings);
    }

    /// <summary>Parses an <c>:include:</c> file: targets in the alias syntax, one or more per line, no names.</summary>
    public static IReadOnlyList<AliasTarget> LoadInclude(string path) => ParseInclude(path, File.ReadAllText(path));

    /// <summary>Parses the content of an <c>:include:</c> file.</summary>
    public static IReadOnlyList<AliasTarget> ParseInclude(string path, string text)
    {
        var targets = new List<AliasTarget>();
        foreach (var (line, logical) in LogicalLines(path, text, continuations: false))
            targets.AddRange(ParseTargets(path, line, logical));
        return targets;
    }

    /// <summary>Lines without comments and blanks; with <paramref name="continuations"/>, a line that starts with
    /// white space is joined to the one before. Each comes with the number of its first line.</summary>
    private static IEnumerable<(int Line, string Text)> LogicalLines(string path, string text, bool continuations)
    {
        var number = 0;
        var startLine = 0;
        StringBuilder? current = null;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r');
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#') continue;
            if (continuations && line.Length > 0 && char.IsWhiteSpace(line[0]))
            {
                if (current is null) throw Error(path, number, "a continuation line with no entry before it");
                current.Append(' ').Append(trimmed);
                continue;
            }
            if (current is not null) yield return (startLine, current.ToString());
            current = new StringBuilder(trimmed);
            startLine = number;
        }
        if (current is not null) yield return (startLine, current.ToString());
    }

    private static List<AliasTarget> ParseTargets(string path, int line, string list)
    {
        var targets = new List<AliasTarget>();
        foreach (var item in SplitOutsideQuotes(path, line, list))
        {
            var raw = item.Trim();
            if (raw.Length == 0) continue;
            targets.Add(ParseTarget(path, line, raw));
        }
        return targets;
    }

    private static AliasTarget ParseTarget(string path, int line, string raw)
    {
        // A target quoted whole ("|cmd arg", "/a file") is its content; a quoted local part ("a b"@x) stays an address.
        var whole = raw.Length >= 2 && raw[0] == '"' && raw[^1] == '"' && !HasBareQuote(raw.AsSpan(1, raw.Length - 2));
        var text = whole ? Unquote(path, line, raw) : raw;
        if (text.StartsWith('|'))
        {
            var command = text[1..].Trim();
            return command.Length > 0 ? new AliasTarget(AliasTargetKind.Command, command) : throw Error(path, line, "'|' without a command");
        }
        if (text.StartsWith('/')) return new AliasTarget(AliasTargetKind.File, text);
        if (text.StartsWith(":include:", StringComparison.OrdinalIgnoreCase))
        {
            var file = text[":include:".Length..].Trim();
            return file.StartsWith('/') ? new AliasTarget(AliasTargetKind.Include, file)
                : throw Error(path, line, $"':include:{file}': the include file must be an absolute path");
        }
        if (text.StartsWith('\\'))
        {
            var user = Unquote(path, line, text[1..].Trim());
            return user.Length > 0 && !user.Contains('@', StringComparison.Ordinal)
                ? new AliasTarget(AliasTargetKind.Local, user.ToLowerInvariant(), NoExpand: true)
                : throw Error(path, line, $"'{text}' is not a local user name");
        }
        var at = text.LastIndexOf('@');
        if (at >= 0)
        {
            var local = Unquote(path, line, text[..at]);
            var domain = text[(at + 1)..];
            if (local.Length == 0 || domain.Length == 0 || domain.Any(c => char.IsWhiteSpace(c) || c is '"' or '<' or '>' or ','))
                throw Error(path, line, $"'{text}' is not an address");
            return new AliasTarget(AliasTargetKind.Address, local + "@" + domain.ToLowerInvariant());
        }
        var name = Unquote(path, line, text);
        if (name.Any(c => char.IsControl(c) || c is '<' or '>')) throw Error(path, line, $"'{text}' is not a local name");
        return new AliasTarget(AliasTargetKind.Local, name.ToLowerInvariant());
    }

    /// <summary><paramref name="text"/> with a surrounding pair of quotes removed and <c>\x</c> escapes inside them undone.</summary>
    private static string Unquote(string path, int line, string text)
    {
        if (!text.Contains('"', StringComparison.Ordinal)) return text;
        if (text.Length < 2 || text[0] != '"' || text[^1] != '"') throw Error(path, line, $"'{text}': unbalanced or misplaced quotes");
        var sb = new StringBuilder(text.Length);
        for (var i = 1; i < text.Length - 1; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length - 1) c = text[++i];
            else if (c == '"') throw Error(path, line, $"'{text}': a quote inside a quoted string");
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static List<string> SplitOutsideQuotes(string path, int line, string text)
    {
        var parts = new List<string>();
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted && c == '\\') i++;
            else if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted)
            {
                parts.Add(text[start..i]);
                start = i + 1;
            }
        }
        if (quoted) throw Error(path, line, "a quoted string is not closed");
        parts.Add(text[start..]);
        return parts;
    }

    private static bool HasBareQuote(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\') i++;
            else if (text[i] == '"') return true;
        }
        return false;
    }

    private static int IndexOutsideQuotes(string text, char wanted)
    {
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted && c == '\\') i++;
            else if (c == '"') quoted = !quoted;
            else if (c == wanted && !quoted) return i;
        }
        return -1;
    }

    private static FormatException Error(string path, int line, string why) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{path}:{line}: {why}"));
}
