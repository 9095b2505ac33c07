// An envelope address (RFC 5321 Mailbox) as it travels in MAIL FROM and RCPT TO.
namespace Mta.Abstractions;

/// <summary>
/// An envelope address: the <c>Mailbox</c> of RFC 5321 section 4.1.2, without angle brackets and
/// without any source route (source routes are accepted on input and discarded).
/// </summary>
/// <param name="LocalPart">The local part, unquoted (a quoted local part's quotes and escapes removed).</param>
/// <param name="Domain">The domain or address literal (for example <c>example.org</c> or
/// <c>[192.0.2.1]</c>); empty for the null path and for the bare <c>&lt;Postmaster&gt;</c> recipient.</param>
public sealed record SmtpAddress(string LocalPart, string Domain)
{
    /// <summary>The null reverse-path <c>&lt;&gt;</c>, used by bounces and other notifications.</summary>
    public static SmtpAddress Null { get; } = new(string.Empty, string.Empty);

    /// <summary>True for the null reverse-path <c>&lt;&gt;</c>.</summary>
    public bool IsNull => LocalPart.Length == 0 && Domain.Length == 0;

    /// <summary>True when the local part is <c>postmaster</c> in any case (RFC 5321 section 4.5.1).</summary>
    public bool IsPostmaster => string.Equals(LocalPart, "postmaster", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when the address is all ASCII, so it can travel without SMTPUTF8 (RFC 6531).</summary>
    public bool IsAscii => System.Text.Ascii.IsValid(LocalPart) && System.Text.Ascii.IsValid(Domain);

    /// <summary>True when the domain is an address literal such as <c>[192.0.2.1]</c> or <c>[IPv6:::1]</c>.</summary>
    public bool IsAddressLiteral => Domain.StartsWith('[');

    /// <summary>
    /// The address as written inside angle brackets on the wire: the local part quoted when it is not
    /// a Dot-string, then <c>@</c> and the domain. The null path gives an empty string.
    /// </summary>
    public override string ToString()
    {
        if (IsNull) return string.Empty;
        var local = NeedsQuoting(LocalPart) ? Quote(LocalPart) : LocalPart;
        return Domain.Length == 0 ? local : local + "@" + Domain;
    }

    /// <summary>The address in angle brackets, as in <c>MAIL FROM:&lt;a@b&gt;</c>.</summary>
    public string ToPathString() => "<" + ToString() + ">";

    private static bool NeedsQuoting(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal))
            return true;
        foreach (var c in local)
        {
            if (c >= 0x80) continue; // UTF-8 local parts (SMTPUTF8) are atext
            if (char.IsAsciiLetterOrDigit(c) || c == '.' || "!#$%&'*+-/=?^_`{|}~".Contains(c)) continue;
            return true;
        }
        return false;
    }

    private static string Quote(string local)
    {
        var sb = new System.Text.StringBuilder(local.Length + 2).Append('"');
        foreach (var c in local)
        {
            if (c is '"' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
