// The one rule for what can name a mailbox: checked for configured users, at RCPT, and again before a Maildir is made.
using System.Globalization;
using System.Text;

namespace Mta.Engine.Delivery;

/// <summary>
/// Which local parts can be a mailbox (and so a Maildir folder): letters and digits (any script, so SMTPUTF8 local parts
/// work), and <c>. _ - +</c>; no leading or trailing dot and no <c>..</c> (so never <c>.</c>, <c>..</c> or a Maildir++
/// folder name); at most 64 octets in UTF-8 (RFC 5321 4.5.3.1.1). Everything else — <c>/</c>, spaces, quotes, control
/// characters, the contents of a quoted local part — is refused: such a name is refused at RCPT with 550 5.1.3, never
/// accepted and bounced later.
/// </summary>
public static class MailboxNames
{
    /// <summary>RFC 5321 4.5.3.1.1: the maximum length of a local part, in octets.</summary>
    public const int MaxOctets = 64;

    /// <summary>The rule in words, for replies and config errors.</summary>
    public const string Rule = "letters, digits, . _ - + only, not starting or ending with a dot, no '..', at most 64 octets";

    /// <summary>True when <paramref name="name"/> can name a mailbox.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxOctets || name[0] == '.' || name[^1] == '.') return false;
        var ascii = true;
        var previousDot = false;
        foreach (var rune in name.EnumerateRunes())
        {
            var dot = rune.Value == '.';
            if (dot && previousDot) return false;
            previousDot = dot;
            if (rune.IsAscii)
            {
                if (!(char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '.' or '_' or '-' or '+')) return false;
                continue;
            }
            ascii = false;
            // Combining marks count with their letter, so a decomposed "é" is as good as a precomposed one.
            if (!Rune.IsLetterOrDigit(rune) && Rune.GetUnicodeCategory(rune) is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark))
                return false;
        }
        return ascii || Encoding.UTF8.GetByteCount(name) <= MaxOctets;
    }
}
