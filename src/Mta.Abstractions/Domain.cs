// A domain name compared as DNS compares it: without case and without the root's trailing dot.
using System.Diagnostics.CodeAnalysis;

namespace Mta.Abstractions;

/// <summary>
/// A domain name such as <c>example.org</c>, in one normalised form: the trailing dot of a fully qualified name
/// (<c>example.org.</c>) dropped and ASCII letters in lower case. Two domains are equal when their names are equal
/// without regard to case, so <c>Example.ORG.</c> and <c>example.org</c> are the same domain and the same key in a
/// dictionary or set.
/// </summary>
/// <remarks>
/// Internationalised names are kept as given: non-ASCII characters (U-labels, RFC 6531 SMTPUTF8 domains) are not
/// mapped to A-labels, and their case is compared as <see cref="StringComparison.OrdinalIgnoreCase"/> compares it.
/// An A-label (<c>xn--bcher-kva.example</c>) and its U-label (<c>bücher.example</c>) are therefore different
/// domains. Address literals such as <c>[192.0.2.1]</c> are not domain names and do not parse.
/// The <see langword="default"/> value is the empty domain (<see cref="IsEmpty"/>), which no name parses to.
/// </remarks>
public readonly struct Domain : IEquatable<Domain>
{
    // RFC 1035 section 2.3.4: 63 octets a label, 255 a name on the wire, so 253 characters in text without the root dot.
    private const int MaxLabelLength = 63;
    private const int MaxNameLength = 253;

    private readonly string? _name;

    private Domain(string name) => _name = name;

    /// <summary>The normalised name: no trailing dot, ASCII letters in lower case; empty for the default value.</summary>
    public string Name => _name ?? string.Empty;

    /// <summary>True for the <see langword="default"/> value, which stands for no domain.</summary>
    public bool IsEmpty => string.IsNullOrEmpty(_name);

    /// <summary>
    /// A comparer of domain names held as strings, equal as <see cref="Domain"/> values would be (case and one
    /// trailing dot ignored), for dictionaries and sets keyed by configured names. It does not validate the names.
    /// </summary>
    public static IEqualityComparer<string> NameComparer { get; } = new DomainNameComparer();

    /// <summary>
    /// Reads a domain name. Surrounding white space and one trailing dot are dropped; the name must then be
    /// non-empty labels separated by dots, each of at most 63 characters, 253 in all, made of ASCII letters, digits,
    /// hyphens and underscores (underscores occur in DNS names such as <c>sel._domainkey.example.org</c>) or
    /// non-ASCII characters.
    /// </summary>
    /// <param name="text">The name, for example <c>Example.org.</c>.</param>
    /// <returns>The domain, normalised.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not a domain name; the message says why.</exception>
    public static Domain Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var domain, out var error) ? domain : throw new FormatException($"'{text}' is not a domain name: {error}");
    }

    /// <summary>Reads a domain name as <see cref="Parse(string)"/> does, without throwing.</summary>
    /// <param name="text">The name; null gives false.</param>
    /// <param name="domain">The domain, normalised; the empty domain when the result is false.</param>
    /// <returns>True when <paramref name="text"/> is a domain name.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out Domain domain) => TryParse(text, out domain, out _);

    private static bool TryParse(string? text, out Domain domain, out string error)
    {
        domain = default;
        var span = text.AsSpan().Trim();
        if (span.EndsWith('.')) span = span[..^1];
        if (span.IsEmpty) { error = "it is empty"; return false; }
        if (span.Length > MaxNameLength) { error = $"it is longer than {MaxNameLength} characters"; return false; }

        var labelLength = 0;
        var hasUpper = false;
        foreach (var c in span)
        {
            if (c == '.')
            {
                if (labelLength == 0) { error = "it has an empty label"; return false; }
                labelLength = 0;
                continue;
            }
            if (++labelLength > MaxLabelLength) { error = $"a label is longer than {MaxLabelLength} characters"; return false; }
            if (char.IsAsciiLetterUpper(c)) hasUpper = true;
            else if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' || c >= 0x80))
            {
                error = $"'{c}' is not allowed in a domain name";
                return false;
            }
        }
        if (labelLength == 0) { error = "it has an empty label"; return false; }

        error = string.Empty;
        domain = new Domain(!hasUpper && span.Length == text!.Length ? text : Lower(span));
        return true;
    }

    // Only ASCII letters change: a U-label keeps its characters as given (see the remarks above).
    private static string Lower(ReadOnlySpan<char> name)
    {
        Span<char> lower = stackalloc char[MaxNameLength];
        for (var i = 0; i < name.Length; i++) lower[i] = char.IsAsciiLetterUpper(name[i]) ? (char)(name[i] | 0x20) : name[i];
        return new string(lower[..name.Length]);
    }

    /// <summary>True when this domain lies strictly below <paramref name="parent"/>, as <c>mx.example.org</c> lies
    /// below <c>example.org</c>; false for the domain itself and for <c>badexample.org</c>.</summary>
    /// <param name="parent">The parent domain; the empty domain is no one's parent.</param>
    public bool IsSubdomainOf(Domain parent) =>
        !parent.IsEmpty && Name.Length > parent.Name.Length
        && Name.EndsWith(parent.Name, StringComparison.OrdinalIgnoreCase) && Name[^(parent.Name.Length + 1)] == '.';

    /// <summary>True when this domain is <paramref name="parent"/> or lies below it.</summary>
    /// <param name="parent">The parent domain; the empty domain matches nothing.</param>
    public bool IsSameOrSubdomainOf(Domain parent) => !parent.IsEmpty && (Equals(parent) || IsSubdomainOf(parent));

    /// <summary>True when both are the same domain, without regard to case.</summary>
    /// <param name="other">The domain to compare with.</param>
    public bool Equals(Domain other) => string.Equals(Name, other.Name, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc/>
    public override bool Equals([NotNullWhen(true)] object? obj) => obj is Domain other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.OrdinalIgnoreCase.GetHashCode(Name);

    /// <summary>The normalised name (<see cref="Name"/>).</summary>
    public override string ToString() => Name;

    /// <summary>True when both are the same domain.</summary>
    /// <param name="left">A domain.</param>
    /// <param name="right">Another domain.</param>
    public static bool operator ==(Domain left, Domain right) => left.Equals(right);

    /// <summary>True when they are different domains.</summary>
    /// <param name="left">A domain.</param>
    /// <param name="right">Another domain.</param>
    public static bool operator !=(Domain left, Domain right) => !left.Equals(right);

    private sealed class DomainNameComparer : IEqualityComparer<string>
    {
        public bool Equals(string? x, string? y) =>
            x is null || y is null ? ReferenceEquals(x, y) : Trimmed(x).Equals(Trimmed(y), StringComparison.OrdinalIgnoreCase);

        public int GetHashCode(string obj) => obj is null ? 0 : string.GetHashCode(Trimmed(obj), StringComparison.OrdinalIgnoreCase);

        private static ReadOnlySpan<char> Trimmed(string name) => name.EndsWith('.') ? name.AsSpan(0, name.Length - 1) : name;
    }
}
