// Subaddressing: `alice+tag` is alice's address with the detail `tag` (Postfix's recipient_delimiter).
namespace Mta.Engine.Routing;

/// <summary>
/// Splits a local part at the first recipient delimiter (<c>Mailboxes:RecipientDelimiter</c>, any one of its
/// characters, as Postfix's <c>recipient_delimiter</c>): <c>alice+tag</c> is the user <c>alice</c> with the detail
/// <c>tag</c>. A local part that starts with a delimiter, or has none, has no detail. <c>owner-</c>-style names are
/// untouched unless <c>-</c> is a delimiter.
/// </summary>
public static class AddressDetail
{
    /// <summary>The user part and the detail (null when none) of <paramref name="localPart"/>.</summary>
    /// <param name="localPart">The local part, unquoted.</param>
    /// <param name="delimiters">The delimiter characters; null or empty for none.</param>
    public static (string User, string? Detail) Split(string localPart, string? delimiters)
    {
        if (string.IsNullOrEmpty(delimiters)) return (localPart, null);
        var at = localPart.AsSpan().IndexOfAny(delimiters);
        return at <= 0 ? (localPart, null) : (localPart[..at], localPart[(at + 1)..]);
    }
}
