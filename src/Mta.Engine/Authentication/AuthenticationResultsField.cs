// Writes the Authentication-Results field (RFC 8601) from typed results, and recognises fields that claim our authserv-id.
using System.Text;
using Mta.Abstractions;

namespace Mta.Engine.Authentication;

/// <summary>
/// The one place the server's <c>Authentication-Results:</c> value is written: methods in the order the checks ran
/// (SPF of HELO and MAIL FROM, DKIM per signature, DMARC, ARC), each with its properties and a comment saying why.
/// </summary>
public static class AuthenticationResultsField
{
    /// <summary>The field name.</summary>
    public const string Name = "Authentication-Results";

    /// <summary>The field value (without the name and the final CRLF), folded one result per line.</summary>
    /// <param name="results">The results.</param>
    /// <param name="dkimChecked">DKIM verification ran: a message without signatures then says <c>dkim=none</c>.</param>
    public static string Build(MessageAuthentication results, bool dkimChecked)
    {
        ArgumentNullException.ThrowIfNull(results);
        var methods = new List<string>();
        if (results.Helo is { } helo)
            methods.Add(Method("spf", Spf(helo.Result), helo.Detail, ("smtp.helo", helo.Identity)));
        if (results.MailFrom is { } mailFrom)
            methods.Add(Method("spf", Spf(mailFrom.Result), mailFrom.Detail, ("smtp.mailfrom", mailFrom.Identity)));
        if (dkimChecked && results.Dkim.Count == 0)
            methods.Add(Method("dkim", "none", "no signature"));
        foreach (var dkim in results.Dkim)
        {
            methods.Add(Method("dkim", Dkim(dkim.Result), DkimComment(dkim),
                ("header.d", dkim.Domain), ("header.i", dkim.Identity), ("header.s", dkim.Selector), ("header.a", dkim.Algorithm),
                ("header.b", dkim.SignaturePrefix)));
        }
        if (results.Dmarc is { } dmarc)
        {
            var comment = dmarc.PolicyDomain is null ? dmarc.Detail
                : $"p={Policy(dmarc.Policy)} dis={Policy(dmarc.Disposition)}" + (dmarc.Detail is { } d ? "; " + d : "");
            methods.Add(Method("dmarc", Dmarc(dmarc.Result), comment, ("header.from", dmarc.FromDomain)));
        }
        if (results.Arc is { } arc)
            methods.Add(Method("arc", Arc(arc.Result), arc.Detail ?? (arc.Instances > 0 ? $"i={arc.Instances}" : null)));

        var sb = new StringBuilder(results.AuthServId);
        if (methods.Count == 0)
            return sb.Append("; none").ToString();
        foreach (var method in methods)
            sb.Append(";\r\n\t").Append(method);
        return sb.ToString();
    }

    /// <summary>True when an <c>Authentication-Results:</c> field value names
    /// <paramref name="authServId"/> as its authserv-id: a field the server must remove from incoming mail (RFC 8601 5),
    /// since only the server itself may write results under its name.</summary>
    public static bool ClaimsAuthServId(ReadOnlySpan<char> value, string authServId)
    {
        var i = SkipCfws(value, 0);
        var start = i;
        while (i < value.Length && value[i] is not (';' or ' ' or '\t' or '\r' or '\n' or '('))
            i++;
        return value[start..i].Equals(authServId, StringComparison.OrdinalIgnoreCase);
    }

    private static int SkipCfws(ReadOnlySpan<char> value, int i)
    {
        var depth = 0;
        for (; i < value.Length; i++)
        {
            var c = value[i];
            if (depth > 0)
            {
                if (c == '\\') i++;
                else if (c == '(') depth++;
                else if (c == ')') depth--;
            }
            else if (c == '(') depth = 1;
            else if (c is not (' ' or '\t' or '\r' or '\n')) break;
        }
        return i;
    }

    private static string Method(string method, string result, string? comment, params (string Property, string? Value)[] properties)
    {
        var sb = new StringBuilder(method).Append('=').Append(result);
        if (!string.IsNullOrWhiteSpace(comment))
            sb.Append(" (").Append(Comment(comment)).Append(')');
        foreach (var (property, value) in properties)
        {
            if (!string.IsNullOrEmpty(value))
                sb.Append(' ').Append(property).Append('=').Append(PropertyValue(value));
        }
        return sb.ToString();
    }

    private static string? DkimComment(DkimCheck dkim)
    {
        var detail = dkim.Detail;
        if (dkim.Testing) detail = detail is null ? "test mode" : detail + "; test mode";
        return detail;
    }

    /// <summary>A comment's text with what would end or nest it escaped, line breaks and controls dropped, and a bound
    /// on its length: details come from DNS records that anyone can publish.</summary>
    private static string Comment(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, 200));
        foreach (var c in text)
        {
            if (sb.Length >= 200) { sb.Append("..."); break; }
            if (char.IsControl(c)) { sb.Append(' '); continue; }
            if (c is '(' or ')' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString().Trim();
    }

    /// <summary>RFC 8601's pvalue: as it is when it is a token or an address (local-part@domain of atoms), else a
    /// quoted-string.</summary>
    private static string PropertyValue(string value)
    {
        var plain = value.Length > 0 && value.All(c => c > ' ' && c < 0x7f && c is not ('(' or ')' or '<' or '>' or ',' or ';' or ':' or '\\' or '"' or '[' or ']' or '?' or '='))
            || value.Any(c => c > 0x7f) && !value.Any(c => c <= ' ' || c is ';' or '(' or ')' or '"' or '\\');
        if (plain) return value;
        var sb = new StringBuilder("\"");
        foreach (var c in value)
        {
            if (char.IsControl(c)) continue;
            if (c is '"' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    private static string Spf(SpfResult result) => result switch
    {
        SpfResult.Pass => "pass",
        SpfResult.Fail => "fail",
        SpfResult.SoftFail => "softfail",
        SpfResult.Neutral => "neutral",
        SpfResult.TempError => "temperror",
        SpfResult.PermError => "permerror",
        _ => "none",
    };

    private static string Dkim(DkimResult result) => result switch
    {
        DkimResult.Pass => "pass",
        DkimResult.Fail => "fail",
        DkimResult.Policy => "policy",
        DkimResult.Neutral => "neutral",
        DkimResult.TempError => "temperror",
        DkimResult.PermError => "permerror",
        _ => "none",
    };

    private static string Dmarc(DmarcResult result) => result switch
    {
        DmarcResult.Pass => "pass",
        DmarcResult.Fail => "fail",
        DmarcResult.TempError => "temperror",
        DmarcResult.PermError => "permerror",
        _ => "none",
    };

    private static string Arc(ArcResult result) => result switch
    {
        ArcResult.Pass => "pass",
        ArcResult.Fail => "fail",
        _ => "none",
    };

    private static string Policy(DmarcPolicy policy) => policy switch
    {
        DmarcPolicy.Reject => "reject",
        DmarcPolicy.Quarantine => "quarantine",
        _ => "none",
    };
}
