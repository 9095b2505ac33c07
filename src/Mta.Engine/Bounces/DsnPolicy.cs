// When a DSN is due (RFC 3461 NOTIFY) and whether a status code may go into one.
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Bounces;

/// <summary>DSN decisions that do not depend on building the message.</summary>
public static class DsnPolicy
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

    /// <summary>True for a well-formed RFC 3463 code with class 2, 4 or 5.</summary>
    internal static bool IsValidStatus(string? status) => status is not null && EnhancedStatusCode.TryParse(status, out _);
}
