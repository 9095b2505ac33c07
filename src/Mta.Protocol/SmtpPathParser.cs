// RFC 5321 4.1.2 path grammar: Reverse-path, Forward-path, Mailbox, Domain and address literals.
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mta.Abstractions;

namespace Mta.Protocol;

/// <summary>Why a path was refused; the command parser maps each kind to its reply.</summary>
public enum SmtpPathError
{
    /// <summary>No error.</summary>
    None,
    /// <summary>The path does not match the RFC 5321 grammar.</summary>
    Syntax,
    /// <summary>The local part is longer than <see cref="SmtpLimits.MaxLocalPart"/> octets.</summary>
    LocalPartTooLong,
    /// <summary>The domain is longer than <see cref="SmtpLimits.MaxDomain"/> octets.</summary>
    DomainTooLong,
    /// <summary>The path is longer than <see cref="SmtpLimits.MaxPath"/> octets.</summary>
    PathTooLong,
    /// <summary>The path holds non-ASCII characters but UTF-8 was not allowed (no SMTPUTF8).</summary>
    NonAsciiNotAllowed,
    /// <summary><c>&lt;&gt;</c> given where a forward-path is required.</summary>
    NullPathNotAllowed,
}

/// <summary>Parses RFC 5321 paths. Source routes are accepted and dropped; quoted local parts are unquoted.</summary>
public static class SmtpPathParser
{
    private const string AtextSpecials = "!#$%&'*+-/=?^_`{|}~";

    /// <summary>Parses a Reverse-path (<c>&lt;&gt;</c> or a path) at the start of <paramref name="s"/>.</summary>
    /// <param name="s">Text starting with <c>&lt;</c>; anything after the closing <c>&gt;</c> is left alone.</param>
    /// <param name="allowUtf8">Allow UTF-8 local parts and U-label domains (RFC 6531).</param>
    /// <param name="address">The mailbox; <see cref="SmtpAddress.Null"/> for <c>&lt;&gt;</c>.</param>
    /// <param name="consumed">Characters up to and including the closing <c>&gt;</c>.</param>
    /// <param name="error">Why the path was refused, for the reply text.</param>
    public static bool TryParseReversePath(ReadOnlySpan<char> s, bool allowUtf8, out SmtpAddress address, out int consumed, out string? error) =>
        TryParsePath(s, allowUtf8, reverse: true, out address, out consumed, out _, out error);

    /// <summary>Parses a Reverse-path, also reporting the kind of error.</summary>
    public static bool TryParseReversePath(ReadOnlySpan<char> s, bool allowUtf8, out SmtpAddress address, out int consumed, out SmtpPathError errorKind, out string? error) =>
        TryParsePath(s, allowUtf8, reverse: true, out address, out consumed, out errorKind, out error);

    /// <summary>Parses a Forward-path at the start of <paramref name="s"/>. <c>&lt;Postmaster&gt;</c> in any case,
    /// without a domain, gives <c>SmtpAddress("Postmaster", "")</c>; <c>&lt;&gt;</c> is refused.</summary>
    public static bool TryParseForwardPath(ReadOnlySpan<char> s, bool allowUtf8, out SmtpAddress address, out int consumed, out string? error) =>
        TryParsePath(s, allowUtf8, reverse: false, out address, out consumed, out _, out error);

    /// <summary>Parses a Forward-path, also reporting the kind of error.</summary>
    public static bool TryParseForwardPath(ReadOnlySpan<char> s, bool allowUtf8, out SmtpAddress address, out int consumed, out SmtpPathError errorKind, out string? error) =>
        TryParsePath(s, allowUtf8, reverse: false, out address, out consumed, out errorKind, out error);

    /// <summary>True when <paramref name="s"/> is an RFC 5321 Domain (dot-separated sub-domains) of at most 255 octets.</summary>
    public static bool IsValidDomain(ReadOnlySpan<char> s, bool allowUtf8 = false)
    {
        var i = 0;
        return ParseDomain(s, ref i, allowUtf8, out _, out _) && i == s.Length && Encoding.UTF8.GetByteCount(s) <= SmtpLimits.MaxDomain;
    }

    /// <summary>True when <paramref name="s"/> is an RFC 5321 address literal: <c>[IPv4]</c>, <c>[IPv6:...]</c> or <c>[tag:content]</c>.</summary>
    public static bool IsValidAddressLiteral(ReadOnlySpan<char> s)
    {
        var i = 0;
        return ParseAddressLiteral(s, ref i, out _) && i == s.Length;
    }

    private static bool TryParsePath(ReadOnlySpan<char> s, bool allowUtf8, bool reverse, out SmtpAddress address, out int consumed, out SmtpPathError kind, out string? error)
    {
        address = SmtpAddress.Null;
        consumed = 0;
        kind = SmtpPathError.None;
        error = null;

        if (s.IsEmpty || s[0] != '<')
            return Fail(SmtpPathError.Syntax, "Path must be enclosed in angle brackets", out kind, out error);
        var i = 1;
        if (i < s.Length && s[i] == '>')
        {
            if (!reverse) return Fail(SmtpPathError.NullPathNotAllowed, "Null path is not a valid recipient", out kind, out error);
            consumed = 2;
            return true;
        }

        // A-d-l: RFC 5321 4.1.2 says accept and ignore source routes.
        if (i < s.Length && s[i] == '@')
        {
            while (true)
            {
                i++;
                if (!ParseDomain(s, ref i, allowUtf8, out kind, out error)) return false;
                if (i < s.Length && s[i] == ',')
                {
                    i++;
                    if (i >= s.Length || s[i] != '@') return Fail(SmtpPathError.Syntax, "Bad source route", out kind, out error);
                    continue;
                }
                if (i < s.Length && s[i] == ':') { i++; break; }
                return Fail(SmtpPathError.Syntax, "Bad source route", out kind, out error);
            }
        }

        var localStart = i;
        string localPart;
        bool quoted;
        if (i < s.Length && s[i] == '"')
        {
            quoted = true;
            if (!ParseQuotedString(s, ref i, allowUtf8, out localPart, out kind, out error)) return false;
        }
        else
        {
            quoted = false;
            if (!ParseDotString(s, ref i, allowUtf8, out kind, out error)) return false;
            localPart = s[localStart..i].ToString();
        }
        if (Encoding.UTF8.GetByteCount(s[localStart..i]) > SmtpLimits.MaxLocalPart)
            return Fail(SmtpPathError.LocalPartTooLong, "Local part too long", out kind, out error);

        if (!reverse && !quoted && i < s.Length && s[i] == '>' && localPart.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            consumed = i + 1;
            address = new SmtpAddress("Postmaster", string.Empty);
            return true;
        }
        if (i >= s.Length || s[i] != '@')
        {
            var why = i < s.Length && s[i] == '>' ? "Address must include a domain" : "Syntax error in mailbox";
            return Fail(SmtpPathError.Syntax, why, out kind, out error);
        }
        i++;

        var domainStart = i;
        if (i < s.Length && s[i] == '[')
        {
            if (!ParseAddressLiteral(s, ref i, out error)) return Fail(SmtpPathError.Syntax, error!, out kind, out error);
        }
        else if (!ParseDomain(s, ref i, allowUtf8, out kind, out error))
        {
            return false;
        }
        var domain = s[domainStart..i];
        if (Encoding.UTF8.GetByteCount(domain) > SmtpLimits.MaxDomain)
            return Fail(SmtpPathError.DomainTooLong, "Domain too long", out kind, out error);
        if (i >= s.Length || s[i] != '>')
            return Fail(SmtpPathError.Syntax, i >= s.Length ? "Missing closing angle bracket" : "Syntax error in domain", out kind, out error);
        i++;
        if (Encoding.UTF8.GetByteCount(s[..i]) > SmtpLimits.MaxPath)
            return Fail(SmtpPathError.PathTooLong, "Path too long", out kind, out error);

        consumed = i;
        address = new SmtpAddress(localPart, domain.ToString());
        return true;
    }

    private static bool Fail(SmtpPathError what, string why, out SmtpPathError kind, out string? error)
    {
        kind = what;
        error = why;
        return false;
    }

    // Dot-string = Atom *("." Atom)
    private static bool ParseDotString(ReadOnlySpan<char> s, ref int i, bool allowUtf8, out SmtpPathError kind, out string? error)
    {
        while (true)
        {
            var start = i;
            while (i < s.Length)
            {
                var c = s[i];
                if (c >= 0x80)
                {
                    if (!allowUtf8) return Fail(SmtpPathError.NonAsciiNotAllowed, "Non-ASCII address requires SMTPUTF8", out kind, out error);
                }
                else if (!char.IsAsciiLetterOrDigit(c) && !AtextSpecials.Contains(c))
                {
                    break;
                }
                i++;
            }
            if (i == start) return Fail(SmtpPathError.Syntax, "Syntax error in local part", out kind, out error);
            if (i < s.Length && s[i] == '.') { i++; continue; }
            kind = SmtpPathError.None;
            error = null;
            return true;
        }
    }

    // Quoted-string = DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE; the value is unescaped.
    private static bool ParseQuotedString(ReadOnlySpan<char> s, ref int i, bool allowUtf8, out string value, out SmtpPathError kind, out string? error)
    {
        value = string.Empty;
        var sb = new StringBuilder();
        i++;
        while (true)
        {
            if (i >= s.Length) return Fail(SmtpPathError.Syntax, "Unbalanced quotes in local part", out kind, out error);
            var c = s[i];
            if (c == '"') { i++; break; }
            if (c == '\\')
            {
                i++;
                if (i >= s.Length) return Fail(SmtpPathError.Syntax, "Unbalanced quotes in local part", out kind, out error);
                c = s[i];
                if (c >= 0x80 && !allowUtf8) return Fail(SmtpPathError.NonAsciiNotAllowed, "Non-ASCII address requires SMTPUTF8", out kind, out error);
                if (c < 0x20 || c == 0x7F) return Fail(SmtpPathError.Syntax, "Control character in local part", out kind, out error);
            }
            else if (c >= 0x80)
            {
                if (!allowUtf8) return Fail(SmtpPathError.NonAsciiNotAllowed, "Non-ASCII address requires SMTPUTF8", out kind, out error);
            }
            else if (c < 0x20 || c == 0x7F)
            {
                return Fail(SmtpPathError.Syntax, "Control character in local part", out kind, out error);
            }
            sb.Append(c);
            i++;
        }
        value = sb.ToString();
        kind = SmtpPathError.None;
        error = null;
        return true;
    }

    // Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (or a U-label with SMTPUTF8).
    private static bool ParseDomain(ReadOnlySpan<char> s, ref int i, bool allowUtf8, out SmtpPathError kind, out string? error)
    {
        while (true)
        {
            var start = i;
            var ascii = true;
            while (i < s.Length)
            {
                var c = s[i];
                if (c >= 0x80)
                {
                    if (!allowUtf8) return Fail(SmtpPathError.NonAsciiNotAllowed, "Non-ASCII domain requires SMTPUTF8", out kind, out error);
                    ascii = false;
                }
                else if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    break;
                }
                i++;
            }
            var label = s[start..i];
            if (label.IsEmpty || label[0] == '-' || label[^1] == '-')
                return Fail(SmtpPathError.Syntax, "Syntax error in domain", out kind, out error);
            // DNS caps a label at 63 octets; a U-label's A-label length is not checked here.
            if (ascii && label.Length > 63)
                return Fail(SmtpPathError.DomainTooLong, "Domain label too long", out kind, out error);
            if (i < s.Length && s[i] == '.') { i++; continue; }
            kind = SmtpPathError.None;
            error = null;
            return true;
        }
    }

    // address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
    private static bool ParseAddressLiteral(ReadOnlySpan<char> s, ref int i, out string? error)
    {
        error = "Invalid address literal";
        if (i >= s.Length || s[i] != '[') return false;
        var end = i + 1;
        while (end < s.Length && s[end] != ']')
        {
            var c = s[end];
            if (c is < (char)33 or > (char)126 || c is '[' or '\\') return false; // dcontent
            end++;
        }
        if (end >= s.Length) return false;
        var content = s[(i + 1)..end];
        if (content.IsEmpty) return false;

        bool valid;
        if (content.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
        {
            var v6 = content[5..];
            valid = v6.IndexOfAny('%', '/') < 0 && v6.Contains(':')
                && IPAddress.TryParse(v6, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;
        }
        else if (content.IndexOf(':') is var colon and >= 0)
        {
            // General-address-literal = Standardized-tag ":" 1*dcontent
            valid = colon > 0 && colon < content.Length - 1 && IsLdhStr(content[..colon]);
        }
        else
        {
            valid = IsIPv4(content);
        }
        if (!valid) return false;
        i = end + 1;
        error = null;
        return true;
    }

    private static bool IsLdhStr(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty || !char.IsAsciiLetterOrDigit(s[0]) || !char.IsAsciiLetterOrDigit(s[^1])) return false;
        foreach (var c in s)
            if (!char.IsAsciiLetterOrDigit(c) && c != '-') return false;
        return true;
    }

    // IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0 to 255.
    private static bool IsIPv4(ReadOnlySpan<char> s)
    {
        var parts = 0;
        var i = 0;
        while (true)
        {
            var start = i;
            var value = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]) && i - start < 3)
            {
                value = value * 10 + (s[i] - '0');
                i++;
            }
            if (i == start || value > 255) return false;
            parts++;
            if (i == s.Length) return parts == 4;
            if (s[i] != '.' || parts == 4) return false;
            i++;
        }
    }
}
