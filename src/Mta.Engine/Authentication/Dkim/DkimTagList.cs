// The tag=value list syntax shared by DKIM-Signature fields, DKIM key records and ARC fields (RFC 6376 section 3.2).
namespace Mta.Engine.Authentication.Dkim;

/// <summary>
/// Parses a DKIM tag-list: <c>tag-spec *( ";" tag-spec ) [ ";" ]</c> where a tag-spec is
/// <c>[FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]</c>. Tag names are case-sensitive and may appear once.
/// A value keeps the whitespace inside it (a caller strips it where the RFC says so, as for <c>b=</c> and <c>p=</c>).
/// Empty tag-specs (<c>;;</c>) are tolerated because published key records carry them and verifiers in the wild
/// accept them.
/// </summary>
public static class DkimTagList
{
    /// <summary>Parses <paramref name="text"/>. Never throws.</summary>
    /// <param name="text">The field value or TXT record; CR and LF count as whitespace (folded fields).</param>
    /// <param name="tags">The tags in order when the list is well formed, otherwise null.</param>
    /// <param name="error">Why the list is malformed, otherwise null.</param>
    public static bool TryParse(string text, out IReadOnlyList<KeyValuePair<string, string>>? tags, out string? error)
    {
        tags = null;
        error = null;
        var list = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        while (i <= text.Length)
        {
            var end = text.IndexOf(';', i);
            if (end < 0) end = text.Length;
            var spec = text.AsSpan(i, end - i).Trim(Whitespace);
            i = end + 1;
            if (spec.IsEmpty) continue;

            var eq = spec.IndexOf('=');
            if (eq < 0) { error = $"tag without '=': {Shorten(spec)}"; return false; }
            var name = spec[..eq].TrimEnd(Whitespace);
            if (!IsTagName(name)) { error = $"invalid tag name: {Shorten(name)}"; return false; }
            var value = spec[(eq + 1)..].Trim(Whitespace);
            foreach (var c in value)
            {
                if (!IsValueChar(c) && !IsWhitespace(c)) { error = $"invalid character in the value of {name}="; return false; }
            }
            var key = name.ToString();
            if (!seen.Add(key)) { error = $"duplicate tag {key}="; return false; }
            list.Add(new(key, value.ToString()));
        }
        tags = list;
        return true;
    }

    /// <summary>Reads tags as well as it can from a list that <see cref="TryParse"/> refused, to report on it (never to verify
    /// with): the first value of each name, invalid pieces skipped.</summary>
    public static Dictionary<string, string> ParseLeniently(string text)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var piece in text.Split(';'))
        {
            var eq = piece.IndexOf('=');
            if (eq <= 0) continue;
            var name = piece.AsSpan(0, eq).Trim(Whitespace);
            if (IsTagName(name)) tags.TryAdd(name.ToString(), piece.AsSpan(eq + 1).Trim(Whitespace).ToString());
        }
        return tags;
    }

    /// <summary>Removes every whitespace character (FWS inside base64 values such as <c>b=</c>, <c>bh=</c>, <c>p=</c>).</summary>
    public static string RemoveWhitespace(string value)
    {
        if (value.AsSpan().IndexOfAny(Whitespace) < 0) return value;
        return string.Create(value.Length - value.Count(IsWhitespace), value, static (span, source) =>
        {
            var n = 0;
            foreach (var c in source)
                if (!IsWhitespace(c)) span[n++] = c;
        });
    }

    /// <summary>True when <paramref name="value"/> (whitespace already removed) is base64 that decodes.</summary>
    public static bool IsBase64(string value)
    {
        if (value.Length % 4 != 0) return false;
        Span<byte> scratch = value.Length <= 1024 ? stackalloc byte[value.Length] : new byte[value.Length];
        return Convert.TryFromBase64String(value, scratch, out _);
    }

    internal static bool IsWhitespace(char c) => c is ' ' or '\t' or '\r' or '\n';

    private static ReadOnlySpan<char> Whitespace => " \t\r\n";

    // tag-name = ALPHA *ALNUMPUNC; ALNUMPUNC = ALPHA / DIGIT / "_"
    private static bool IsTagName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !char.IsAsciiLetter(name[0])) return false;
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c != '_') return false;
        return true;
    }

    // VALCHAR = %x21-3A / %x3C-7E (printable ASCII but ';'), plus UTF-8 for internationalized identities (RFC 8616).
    private static bool IsValueChar(char c) => c is >= '!' and <= '~' and not ';' || c >= '\u0080';

    private static string Shorten(ReadOnlySpan<char> s) => s.Length <= 40 ? s.ToString() : string.Concat(s[..40], "...");
}
