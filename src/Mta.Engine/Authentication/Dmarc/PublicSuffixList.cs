// The Public Suffix List (publicsuffix.org) and the organizational domain of RFC 7489 3.2 computed from it.
using System.Globalization;

namespace Mta.Engine.Authentication.Dmarc;

/// <summary>
/// The Public Suffix List: which domain suffixes are registries (<c>com</c>, <c>co.uk</c>, <c>*.ck</c> but not
/// <c>www.ck</c>), so that DMARC can find a domain's organizational domain (RFC 7489 3.2). Both the ICANN and the
/// PRIVATE sections are used by default, as OpenDMARC and the major receivers do: a PRIVATE entry such as
/// <c>github.io</c> or <c>blogspot.com</c> marks names handed out to unrelated parties, which must not share an
/// organizational domain (relaxed alignment between two customers' sites would let one speak for the other).
/// Immutable and thread-safe once loaded. Names are compared as lower-case A-labels (IDN rules and inputs are
/// converted with <see cref="IdnMapping"/>).
/// </summary>
public sealed class PublicSuffixList
{
    /// <summary>Where Debian's <c>publicsuffix</c> package installs the list; preferred to the copy shipped with Mta
    /// because the system keeps it up to date.</summary>
    public const string DebianPath = "/usr/share/publicsuffix/public_suffix_list.dat";

    // The copy shipped in Mta.Engine (from Debian's publicsuffix 20230209), MPL-2.0 like the list itself.
    internal const string EmbeddedResourceName = "Mta.Engine.Authentication.Dmarc.public_suffix_list.dat";

    private static readonly IdnMapping Idn = new() { AllowUnassigned = true, UseStd3AsciiRules = false };
    private static readonly Lazy<PublicSuffixList> DefaultList = new(LoadDefault, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly HashSet<string> _rules;
    private readonly HashSet<string> _wildcards;   // "*.ck" stored as "ck"
    private readonly HashSet<string> _exceptions;  // "!www.ck" stored as "www.ck"

    private PublicSuffixList(HashSet<string> rules, HashSet<string> wildcards, HashSet<string> exceptions, string source)
    {
        _rules = rules;
        _wildcards = wildcards;
        _exceptions = exceptions;
        Source = source;
    }

    /// <summary>The list the server uses unless configured otherwise: <see cref="DebianPath"/> when that file exists
    /// and reads, else the copy shipped inside Mta.Engine. Loaded once, on first use.</summary>
    public static PublicSuffixList Default => DefaultList.Value;

    /// <summary>Where the rules came from: a file path, or <c>embedded</c>.</summary>
    public string Source { get; }

    /// <summary>How many rules were loaded (normal, wildcard and exception).</summary>
    public int RuleCount => _rules.Count + _wildcards.Count + _exceptions.Count;

    /// <summary>Reads a list in the publicsuffix.org format from <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <param name="icannOnly">Use only the ICANN section, ignoring the PRIVATE one.</param>
    /// <exception cref="IOException">The file cannot be read (a configuration error, reported at start).</exception>
    public static PublicSuffixList Load(string path, bool icannOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8);
        return Parse(reader, path, icannOnly);
    }

    /// <summary><see cref="Default"/> when <paramref name="path"/> is null or empty, else <see cref="Load"/> of it:
    /// what a <c>PublicSuffixList</c> path option maps to.</summary>
    public static PublicSuffixList LoadOrDefault(string? path) => string.IsNullOrEmpty(path) ? Default : Load(path);

    /// <summary>Parses a list in the publicsuffix.org format from text (tests, or a list from elsewhere).</summary>
    public static PublicSuffixList Parse(string text, bool icannOnly = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Parse(reader, "text", icannOnly);
    }

    /// <summary>
    /// The organizational domain of <paramref name="domain"/> (RFC 7489 3.2): its public suffix plus one more label,
    /// as a lower-case A-label name without a trailing dot. A domain that is its own organizational domain comes back
    /// as itself. Null when there is none: the domain is itself a public suffix (RFC 7489 3.2 step 4 needs the label
    /// left of the suffix, and a registry is no organization) or is not a usable domain name.
    /// </summary>
    public string? OrganizationalDomain(string domain)
    {
        var normalized = Normalize(domain);
        if (normalized is null) return null;
        var starts = LabelStarts(normalized);
        var suffixLabels = PublicSuffixLabelCount(normalized, starts);
        if (suffixLabels >= starts.Length) return null;
        return normalized[starts[starts.Length - suffixLabels - 1]..];
    }

    /// <summary>True when <paramref name="domain"/> is itself a public suffix (<c>com</c>, <c>co.uk</c>,
    /// <c>anything.ck</c>; an unlisted top-level domain counts, by the list's default rule <c>*</c>). False for
    /// anything that is not a usable domain name.</summary>
    public bool IsPublicSuffix(string domain)
    {
        var normalized = Normalize(domain);
        if (normalized is null) return false;
        var starts = LabelStarts(normalized);
        return PublicSuffixLabelCount(normalized, starts) >= starts.Length;
    }

    /// <summary>A domain as compared here: trimmed, without a trailing dot, lower-case A-labels. Null when it is
    /// empty, has an empty label, is too long, or cannot be converted to ASCII.</summary>
    public static string? Normalize(string? domain)
    {
        if (string.IsNullOrWhiteSpace(domain)) return null;
        var name = domain.Trim();
        if (name.EndsWith('.')) name = name[..^1];
        if (name.Length == 0 || name.Length > 253) return null;
        if (!IsHostChars(name))
        {
            // U-labels to A-labels; the result must be host characters too (IdnMapping lets some punctuation through).
            try { name = Idn.GetAscii(name); }
            catch (ArgumentException) { return null; }
            if (!IsHostChars(name)) return null;
        }
        name = name.ToLowerInvariant();
        if (name.Length > 253) return null;
        var labelStart = 0;
        for (var i = 0; i <= name.Length; i++)
        {
            if (i < name.Length && name[i] != '.') continue;
            if (i - labelStart is 0 or > 63) return null;
            labelStart = i + 1;
        }
        return name;
    }

    // Letters, digits, hyphen, dot, and underscore (used in DMARC's and DKIM's own names).
    private static bool IsHostChars(string name)
    {
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '-' or '_')) return false;
        return true;
    }

    // How many of the rightmost labels form the public suffix. The prevailing rule is an exception rule when one
    // matches (its suffix is the rule minus its leftmost label), else the matching rule with the most labels, else
    // the default rule "*" (the top-level label).
    private int PublicSuffixLabelCount(string name, int[] starts)
    {
        // Span lookups: no substring is allocated per candidate suffix.
        var rules = _rules.GetAlternateLookup<ReadOnlySpan<char>>();
        var wildcards = _wildcards.GetAlternateLookup<ReadOnlySpan<char>>();
        var exceptions = _exceptions.GetAlternateLookup<ReadOnlySpan<char>>();
        var best = 1;
        var exception = -1;
        for (var count = 1; count <= starts.Length; count++)
        {
            var suffix = name.AsSpan(starts[starts.Length - count]);
            if (exceptions.Contains(suffix)) exception = count - 1;
            if (rules.Contains(suffix)) best = count;
            if (count >= 2 && wildcards.Contains(name.AsSpan(starts[starts.Length - count + 1]))) best = count;
        }
        return exception >= 0 ? exception : best;
    }

    // Where each label of a normalized name begins, left to right.
    private static int[] LabelStarts(string name)
    {
        var count = 1;
        foreach (var c in name)
            if (c == '.') count++;
        var starts = new int[count];
        var next = 1;
        for (var i = 0; i < name.Length; i++)
            if (name[i] == '.') starts[next++] = i + 1;
        return starts;
    }

    private static PublicSuffixList Parse(TextReader reader, string source, bool icannOnly)
    {
        var rules = new HashSet<string>(StringComparer.Ordinal);
        var wildcards = new HashSet<string>(StringComparer.Ordinal);
        var exceptions = new HashSet<string>(StringComparer.Ordinal);
        var inPrivate = false;
        while (reader.ReadLine() is { } line)
        {
            var text = line.AsSpan().Trim();
            if (text.IsEmpty) continue;
            if (text.StartsWith("//"))
            {
                if (text.Contains("===BEGIN PRIVATE DOMAINS===", StringComparison.Ordinal)) inPrivate = true;
                else if (text.Contains("===END PRIVATE DOMAINS===", StringComparison.Ordinal)) inPrivate = false;
                continue;
            }
            if (inPrivate && icannOnly) continue;
            // A rule is the line up to its first whitespace (the format allows a comment after it).
            var end = text.IndexOfAny(' ', '\t');
            var rule = (end < 0 ? text : text[..end]).ToString();
            if (rule.StartsWith('!'))
            {
                if (Normalize(rule[1..]) is { } name) exceptions.Add(name);
            }
            else if (rule.StartsWith("*."))
            {
                if (Normalize(rule[2..]) is { } name) wildcards.Add(name);
            }
            else if (!rule.Contains('*') && Normalize(rule) is { } name)
            {
                rules.Add(name);
            }
            // Anything else ("*" alone, a wildcard not leftmost) is outside the format and skipped.
        }
        return new PublicSuffixList(rules, wildcards, exceptions, source);
    }

    private static PublicSuffixList LoadDefault()
    {
        if (File.Exists(DebianPath))
        {
            try { return Load(DebianPath); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return LoadEmbedded();
    }

    /// <summary>The copy shipped inside Mta.Engine.</summary>
    public static PublicSuffixList LoadEmbedded()
    {
        using var stream = typeof(PublicSuffixList).Assembly.GetManifestResourceStream(EmbeddedResourceName)
            ?? throw new InvalidOperationException($"resource {EmbeddedResourceName} missing from {typeof(PublicSuffixList).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        return Parse(reader, "embedded", icannOnly: false);
    }
}
