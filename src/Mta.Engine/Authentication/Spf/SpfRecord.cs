// A parsed "v=spf1" record (RFC 7208 sections 4.5, 5, 6 and 12): pure syntax, no DNS; bad syntax is an error, never an exception.
using System.Net;
using System.Net.Sockets;

namespace Mta.Engine.Authentication.Spf;

/// <summary>A mechanism's qualifier (RFC 7208 4.6.2): the result when the mechanism matches.</summary>
public enum SpfQualifier
{
    /// <summary><c>+</c>, the default.</summary>
    Pass,
    /// <summary><c>-</c>.</summary>
    Fail,
    /// <summary><c>~</c>.</summary>
    SoftFail,
    /// <summary><c>?</c>.</summary>
    Neutral,
}

/// <summary>The mechanisms of RFC 7208 section 5.</summary>
public enum SpfMechanismKind
{
    /// <summary><c>all</c>: always matches.</summary>
    All,
    /// <summary><c>include:domain</c>: matches when the other domain's record passes.</summary>
    Include,
    /// <summary><c>a[:domain][/cidr][//cidr6]</c>.</summary>
    A,
    /// <summary><c>mx[:domain][/cidr][//cidr6]</c>.</summary>
    Mx,
    /// <summary><c>ptr[:domain]</c>.</summary>
    Ptr,
    /// <summary><c>ip4:network[/cidr]</c>.</summary>
    Ip4,
    /// <summary><c>ip6:network[/cidr]</c>.</summary>
    Ip6,
    /// <summary><c>exists:domain</c>.</summary>
    Exists,
}

/// <summary>One directive: qualifier and mechanism.</summary>
/// <param name="Qualifier">The result on a match.</param>
/// <param name="Kind">The mechanism.</param>
/// <param name="Domain">The domain-spec, or null when none was given (a, mx, ptr then use the current domain).</param>
/// <param name="Network">The network of ip4/ip6, else null.</param>
/// <param name="Ip4Prefix">The IPv4 prefix length (32 when not given): for ip4, a and mx.</param>
/// <param name="Ip6Prefix">The IPv6 prefix length (128 when not given): for ip6, a and mx.</param>
/// <param name="Text">The directive as written, for results and logs.</param>
public sealed record SpfMechanism(SpfQualifier Qualifier, SpfMechanismKind Kind, SpfMacroString? Domain, IPAddress? Network,
    int Ip4Prefix, int Ip6Prefix, string Text)
{
    /// <summary>True for the mechanisms that query DNS and count against the limit of 10 (RFC 7208 4.6.4).</summary>
    public bool QueriesDns => Kind is SpfMechanismKind.Include or SpfMechanismKind.A or SpfMechanismKind.Mx
        or SpfMechanismKind.Ptr or SpfMechanismKind.Exists;
}

/// <summary>
/// A <c>v=spf1</c> record of RFC 7208, parsed: its mechanisms in order, <c>redirect=</c> and <c>exp=</c>. Unknown
/// modifiers are checked for syntax and dropped (RFC 7208 6). Names are case-insensitive. Never throws.
/// </summary>
public sealed class SpfRecord
{
    private const string Version = "v=spf1";

    private SpfRecord(IReadOnlyList<SpfMechanism> mechanisms, SpfMacroString? redirect, SpfMacroString? explanation)
    {
        Mechanisms = mechanisms;
        Redirect = redirect;
        Explanation = explanation;
    }

    /// <summary>The directives in the order they are evaluated.</summary>
    public IReadOnlyList<SpfMechanism> Mechanisms { get; }

    /// <summary>The <c>redirect=</c> domain-spec, or null.</summary>
    public SpfMacroString? Redirect { get; }

    /// <summary>The <c>exp=</c> domain-spec, or null.</summary>
    public SpfMacroString? Explanation { get; }

    /// <summary>True when <paramref name="txt"/> is an SPF record: it starts with <c>v=spf1</c> (any case) followed by a
    /// space or nothing (RFC 7208 4.5).</summary>
    public static bool IsSpfRecord(string txt) =>
        txt.StartsWith(Version, StringComparison.OrdinalIgnoreCase) && (txt.Length == Version.Length || txt[Version.Length] == ' ');

    /// <summary>Picks the SPF record among a domain's TXT records (RFC 7208 4.5): none gives false with no error (result
    /// none); more than one gives false with an error (permerror).</summary>
    public static bool TrySelect(IEnumerable<string> txtRecords, out string? record, out string? error)
    {
        record = null;
        error = null;
        foreach (var txt in txtRecords)
        {
            if (!IsSpfRecord(txt)) continue;
            if (record is not null)
            {
                record = null;
                error = "more than one v=spf1 record";
                return false;
            }
            record = txt;
        }
        return record is not null;
    }

    /// <summary>Parses a whole record, <c>v=spf1</c> included. On failure (permerror) <paramref name="error"/> says why.</summary>
    public static bool TryParse(string text, out SpfRecord? record, out string? error)
    {
        record = null;
        if (text is null || !IsSpfRecord(text))
        {
            error = "not a v=spf1 record";
            return false;
        }
        var mechanisms = new List<SpfMechanism>();
        SpfMacroString? redirect = null, explanation = null;
        foreach (var term in text[Version.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var nameLength = NameLength(term);
            if (nameLength > 0 && nameLength < term.Length && term[nameLength] == '=')
            {
                var name = term[..nameLength];
                var value = term[(nameLength + 1)..];
                if (name.Equals("redirect", StringComparison.OrdinalIgnoreCase) || name.Equals("exp", StringComparison.OrdinalIgnoreCase))
                {
                    var isRedirect = name.Length == "redirect".Length;
                    if ((isRedirect ? redirect : explanation) is not null)
                    {
                        error = $"more than one {name.ToLowerInvariant()}= modifier";
                        return false;
                    }
                    if (!TryParseDomainSpec(value, out var spec, out error))
                        return false;
                    if (isRedirect) redirect = spec;
                    else explanation = spec;
                }
                else if (!SpfMacroString.TryParse(value, SpfMacroUse.Modifier, out _, out error))
                {
                    return false;
                }
                continue;
            }
            if (!TryParseDirective(term, out var mechanism, out error))
                return false;
            mechanisms.Add(mechanism!);
        }
        record = new SpfRecord(mechanisms, redirect, explanation);
        error = null;
        return true;
    }

    /// <summary>Length of the leading <c>name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )</c>, 0 when there is none.</summary>
    private static int NameLength(string term)
    {
        if (term.Length == 0 || !char.IsAsciiLetter(term[0])) return 0;
        var i = 1;
        while (i < term.Length && (char.IsAsciiLetterOrDigit(term[i]) || term[i] is '-' or '_' or '.')) i++;
        return i;
    }

    private static bool TryParseDirective(string term, out SpfMechanism? mechanism, out string? error)
    {
        mechanism = null;
        var qualifier = SpfQualifier.Pass;
        var body = term.AsSpan();
        switch (term[0])
        {
            case '+': qualifier = SpfQualifier.Pass; body = body[1..]; break;
            case '-': qualifier = SpfQualifier.Fail; body = body[1..]; break;
            case '~': qualifier = SpfQualifier.SoftFail; body = body[1..]; break;
            case '?': qualifier = SpfQualifier.Neutral; body = body[1..]; break;
        }
        var nameEnd = 0;
        while (nameEnd < body.Length && char.IsAsciiLetterOrDigit(body[nameEnd])) nameEnd++;
        var name = body[..nameEnd].ToString().ToLowerInvariant();
        var rest = body[nameEnd..].ToString();
        SpfMacroString? domain = null;
        int ip4 = 32, ip6 = 128;
        switch (name)
        {
            case "all":
                if (rest.Length != 0) return Invalid(term, out error);
                mechanism = new SpfMechanism(qualifier, SpfMechanismKind.All, null, null, ip4, ip6, term);
                break;

            case "include" or "exists":
                if (!rest.StartsWith(':') || !TryParseDomainSpec(rest[1..], out domain, out error))
                    return Invalid(term, out error);
                mechanism = new SpfMechanism(qualifier, name == "include" ? SpfMechanismKind.Include : SpfMechanismKind.Exists,
                    domain, null, ip4, ip6, term);
                break;

            case "a" or "mx":
                if (!TrySplitDualCidr(ref rest, ref ip4, ref ip6)) return Invalid(term, out error);
                if (rest.Length > 0 && (!rest.StartsWith(':') || !TryParseDomainSpec(rest[1..], out domain, out error)))
                    return Invalid(term, out error);
                mechanism = new SpfMechanism(qualifier, name == "a" ? SpfMechanismKind.A : SpfMechanismKind.Mx, domain, null, ip4, ip6, term);
                break;

            case "ptr":
                if (rest.Length > 0 && (!rest.StartsWith(':') || !TryParseDomainSpec(rest[1..], out domain, out error)))
                    return Invalid(term, out error);
                mechanism = new SpfMechanism(qualifier, SpfMechanismKind.Ptr, domain, null, ip4, ip6, term);
                break;

            case "ip4" or "ip6":
            {
                var v6 = name == "ip6";
                if (!rest.StartsWith(':')) return Invalid(term, out error);
                var network = rest[1..];
                var prefix = v6 ? 128 : 32;
                var slash = network.LastIndexOf('/');
                if (slash >= 0)
                {
                    if (!TryParsePrefix(network.AsSpan(slash + 1), prefix, out prefix)) return Invalid(term, out error);
                    network = network[..slash];
                }
                var address = v6 ? ParseIp6(network) : ParseIp4(network);
                if (address is null) return Invalid(term, out error);
                mechanism = new SpfMechanism(qualifier, v6 ? SpfMechanismKind.Ip6 : SpfMechanismKind.Ip4, null, address,
                    v6 ? ip4 : prefix, v6 ? prefix : ip6, term);
                break;
            }

            default:
                error = $"unknown mechanism '{term}'";
                return false;
        }
        error = null;
        return true;
    }

    private static bool Invalid(string term, out string? error)
    {
        error = $"invalid term '{term}'";
        return false;
    }

    /// <summary>Strips a trailing dual-cidr-length (<c>/n</c>, <c>//n</c>, <c>/n//m</c>) off <paramref name="rest"/>.</summary>
    private static bool TrySplitDualCidr(ref string rest, ref int ip4, ref int ip6)
    {
        var end = rest.Length;
        var digits = TrailingDigits(rest, end);
        if (digits == 0 || rest[end - digits - 1] != '/') return true; // no cidr: a '/' left over fails the domain-spec check
        var start = end - digits - 1;
        if (start > 0 && rest[start - 1] == '/')
        {
            if (!TryParsePrefix(rest.AsSpan(start + 1, digits), 128, out ip6)) return false;
            end = start - 1;
            digits = TrailingDigits(rest, end);
            if (digits == 0 || rest[end - digits - 1] != '/')
            {
                rest = rest[..end];
                return true;
            }
            start = end - digits - 1;
        }
        if (!TryParsePrefix(rest.AsSpan(start + 1, end - start - 1), 32, out ip4)) return false;
        rest = rest[..start];
        return true;

        static int TrailingDigits(string s, int end)
        {
            var n = 0;
            while (end - n - 1 >= 1 && char.IsAsciiDigit(s[end - n - 1])) n++;
            return n;
        }
    }

    /// <summary>A cidr length: "0" or a number without a leading zero, at most <paramref name="max"/>.</summary>
    private static bool TryParsePrefix(ReadOnlySpan<char> digits, int max, out int prefix)
    {
        prefix = 0;
        if (digits.Length is 0 or > 3 || (digits[0] == '0' && digits.Length > 1)) return false;
        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c)) return false;
            prefix = prefix * 10 + (c - '0');
        }
        return prefix <= max;
    }

    /// <summary>ip4-network: four qnums of 0-255, no leading zeros (RFC 7208 12).</summary>
    internal static IPAddress? ParseIp4(string text)
    {
        var parts = text.Split('.');
        if (parts.Length != 4) return null;
        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            if (!TryParsePrefix(parts[i], 255, out var value)) return null;
            bytes[i] = (byte)value;
        }
        return new IPAddress(bytes);
    }

    /// <summary>ip6-network: an RFC 4291 2.2 text address, no zone or brackets.</summary>
    internal static IPAddress? ParseIp6(string text)
    {
        if (text.Length < 2 || text.Any(c => !(char.IsAsciiHexDigit(c) || c is ':' or '.'))) return null;
        return IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 ? address : null;
    }

    /// <summary>
    /// A domain-spec (RFC 7208 7.1): a macro-string without <c>c</c>, <c>r</c>, <c>t</c>, ending in a macro or in
    /// <c>"." toplabel ["."]</c> where the top label is not all digits.
    /// </summary>
    internal static bool TryParseDomainSpec(string text, out SpfMacroString? spec, out string? error)
    {
        if (text.Length == 0)
        {
            spec = null;
            error = "empty domain-spec";
            return false;
        }
        if (!SpfMacroString.TryParse(text, SpfMacroUse.DomainSpec, out spec, out error))
            return false;
        if (spec!.Parts[^1] is string && !EndsWithTopLabel(text))
        {
            spec = null;
            error = $"'{text}' does not end in a top-level domain label or a macro";
            return false;
        }
        return true;
    }

    private static bool EndsWithTopLabel(string text)
    {
        // The literal tail after the last macro (a macro-literal %%, %_, %- is never part of a valid top label).
        var end = text.EndsWith('.') ? text.Length - 1 : text.Length;
        var dot = text.LastIndexOf('.', Math.Max(0, end - 1));
        if (dot < 0 || dot >= end - 1 || text.IndexOf('}', dot) >= 0) return false;
        var label = text.AsSpan(dot + 1, end - dot - 1);
        // toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
        if (label.ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")) return false;
        if (label[0] == '-' || label[^1] == '-') return false;
        return label.Contains('-') || label.ContainsAnyExcept("0123456789");
    }
}
