// When a DSN is due (RFC 3461 NOTIFY) and which RFC 3463 status code a reply or log line stands for.
using System.Text.RegularExpressions;
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Bounces;

/// <summary>DSN decisions that do not depend on building the message.</summary>
public static partial class DsnPolicy
{
    /// <summary>
    /// Whether a DSN of this action is due for this recipient per its NOTIFY (RFC 3461 section 4.1):
    /// no NOTIFY means failure and delay but not success; <c>NEVER</c> means nothing (it wins over anything it was
    /// wrongly combined with); otherwise only the listed conditions. Delivered, relayed and expanded count as SUCCESS.
    /// </summary>
    /// <param name="recipient">The envelope recipient.</param>
    /// <param name="action">The kind of report about to be sent.</param>
    public static bool IsRequested(EnvelopeRecipient recipient, DsnAction action)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var notify = recipient.Notify;
        if ((notify & DsnNotify.Never) != 0) return false;
        if (notify == DsnNotify.Default) return action is DsnAction.Failed or DsnAction.Delayed;
        var needed = action switch
        {
            DsnAction.Failed => DsnNotify.Failure,
            DsnAction.Delayed => DsnNotify.Delay,
            DsnAction.Delivered or DsnAction.Relayed or DsnAction.Expanded => DsnNotify.Success,
            _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Unknown DSN action."),
        };
        return (notify & needed) != 0;
    }

    /// <summary>
    /// The RFC 3463 status a reply or log line stands for. Taken, in this order, from: a leading reply with an
    /// enhanced code (<c>550 5.1.1 ...</c>); a leading enhanced code (<c>5.3.4 ...</c>); a reply with an enhanced code
    /// anywhere (<c>host x said: 550 5.1.1 ...</c>); a reply code alone at the start or after <c>said:</c>
    /// (<c>550 no such user</c> gives <c>5.0.0</c>). An enhanced code whose class differs from its reply code's is
    /// ignored (RFC 2034). With none of these, <c>5.0.0</c> when <paramref name="permanent"/>, else <c>4.0.0</c>.
    /// </summary>
    /// <param name="replyOrDetail">A server reply or a detail text, or null.</param>
    /// <param name="permanent">Whether the failure is permanent, used only when the text names no code.</param>
    public static string StatusFrom(string? replyOrDetail, bool permanent)
    {
        var fallback = permanent ? "5.0.0" : "4.0.0";
        if (string.IsNullOrWhiteSpace(replyOrDetail)) return fallback;

        var m = LeadingReply().Match(replyOrDetail);
        if (m.Success) return FromReply(m);
        m = LeadingEnhanced().Match(replyOrDetail);
        if (m.Success) return m.Groups["enh"].Value;
        m = ReplyWithEnhancedAnywhere().Match(replyOrDetail);
        if (m.Success) return FromReply(m);
        // A bare three-digit number elsewhere could be an address octet or a timeout, so only "said:" is trusted.
        m = ReplyAfterSaid().Match(replyOrDetail);
        if (m.Success) return FromReply(m);
        return fallback;
    }

    /// <summary>True for a well-formed RFC 3463 code with class 2, 4 or 5.</summary>
    internal static bool IsValidStatus(string? status) => status is not null && EnhancedStatusCode.TryParse(status, out _);

    private static string FromReply(Match m)
    {
        var codeClass = m.Groups["code"].Value[0];
        var enh = m.Groups["enh"];
        return enh.Success && enh.Value[0] == codeClass ? enh.Value : codeClass + ".0.0";
    }

    // "(?!\.?[0-9])" keeps "5.1.10" whole and refuses "5.1.1.2" (a version number, not a status); [0-9], not \d, which matches any Unicode digit.
    [GeneratedRegex(@"^\s*(?<code>[245][0-9][0-9])(?![0-9.])(?:[ -]+(?<enh>[245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9]))?", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingReply();

    [GeneratedRegex(@"^\s*(?<enh>[245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingEnhanced();

    [GeneratedRegex(@"(?<![0-9.])(?<code>[245][0-9][0-9])[ -](?<enh>[245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex ReplyWithEnhancedAnywhere();

    [GeneratedRegex(@"said:\s*(?<code>[245][0-9][0-9])(?![0-9.])", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex ReplyAfterSaid();
}
