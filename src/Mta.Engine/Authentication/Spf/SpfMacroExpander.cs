// Expands SPF macros (RFC 7208 7.3, 7.4) from the check's facts; pure: the %{p} name is looked up by the evaluator first.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Engine.Authentication.Spf;

/// <summary>The facts a macro can expand to (RFC 7208 7.3).</summary>
/// <param name="Sender">&lt;sender&gt;: <c>local@domain</c> (%{s}).</param>
/// <param name="Domain">&lt;domain&gt;: the domain whose record is being evaluated (%{d}).</param>
/// <param name="Address">&lt;ip&gt;: the client address (%{i}, %{c}, %{v}), IPv4-mapped addresses already as IPv4.</param>
/// <param name="Helo">The HELO/EHLO name (%{h}).</param>
/// <param name="ReceiverName">The checking host's name (%{r}, explanations only).</param>
/// <param name="Now">The current time (%{t}, explanations only).</param>
/// <param name="ValidatedName">The validated domain name of the client (%{p}), "unknown" when there is none.</param>
public sealed record SpfMacroContext(string Sender, string Domain, IPAddress Address, string Helo, string ReceiverName,
    DateTimeOffset Now, string ValidatedName = "unknown");

/// <summary>Expands an <see cref="SpfMacroString"/>. Never throws.</summary>
public static class SpfMacroExpander
{
    /// <summary>The longest domain name in text form (RFC 7208 7.3: longer expansions are cut from the left).</summary>
    public const int MaxDomainLength = 253;

    /// <summary>The string with every macro replaced by its value (RFC 7208 7.3).</summary>
    public static string Expand(SpfMacroString macroString, SpfMacroContext context)
    {
        var sb = new StringBuilder();
        foreach (var part in macroString.Parts)
        {
            if (part is SpfMacro macro) sb.Append(ExpandMacro(macro, context));
            else sb.Append((string)part);
        }
        return sb.ToString();
    }

    /// <summary>The expansion of a domain-spec, cut from the left label by label to at most 253 characters (RFC 7208
    /// 7.3); one trailing dot (the root) is dropped.</summary>
    public static string ExpandDomain(SpfMacroString domainSpec, SpfMacroContext context)
    {
        var name = Expand(domainSpec, context);
        return TruncateDomain(name.EndsWith('.') ? name[..^1] : name);
    }

    /// <summary>Removes whole labels from the left until the name is at most 253 characters. A name with no dot left to
    /// cut at stays as it is (and is then rejected as a domain).</summary>
    public static string TruncateDomain(string name)
    {
        while (name.Length > MaxDomainLength)
        {
            var dot = name.IndexOf('.');
            if (dot < 0) break;
            name = name[(dot + 1)..];
        }
        return name;
    }

    private static string ExpandMacro(SpfMacro macro, SpfMacroContext context)
    {
        var value = Value(macro.Letter, context);
        if (macro.Keep > 0 || macro.Reverse || macro.Delimiters != ".")
        {
            var parts = value.Split(macro.Delimiters.ToCharArray());
            if (macro.Reverse) Array.Reverse(parts);
            if (macro.Keep > 0 && macro.Keep < parts.Length) parts = parts[^macro.Keep..];
            value = string.Join('.', parts);
        }
        return macro.UrlEscape ? UrlEscape(value) : value;
    }

    private static string Value(char letter, SpfMacroContext context)
    {
        var at = context.Sender.LastIndexOf('@');
        return letter switch
        {
            's' => context.Sender,
            'l' => at > 0 ? context.Sender[..at] : "postmaster",
            'o' => at >= 0 ? context.Sender[(at + 1)..] : context.Sender,
            'd' => context.Domain,
            'i' => DottedAddress(context.Address),
            'p' => context.ValidatedName,
            'v' => context.Address.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "in-addr",
            'h' => context.Helo,
            'c' => context.Address.ToString(),
            'r' => context.ReceiverName,
            't' => context.Now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            _ => "",
        };
    }

    /// <summary>%{i}: dotted decimal for IPv4, dotted nibbles (32 hex digits, most significant first) for IPv6.</summary>
    public static string DottedAddress(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return address.ToString();
        var bytes = address.GetAddressBytes();
        var sb = new StringBuilder(63);
        foreach (var b in bytes)
        {
            if (sb.Length > 0) sb.Append('.');
            sb.Append("0123456789abcdef"[b >> 4]).Append('.').Append("0123456789abcdef"[b & 0xf]);
        }
        return sb.ToString();
    }

    /// <summary>RFC 3986 percent-encoding of everything but the unreserved characters, over UTF-8.</summary>
    private static string UrlEscape(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
