// Relay domains (backup MX, mail gateway) and the verification of their recipients with the next hop.
namespace Mta.Engine.Configuration;

/// <summary>One relay domain (<c>Relay:Domains:NAME</c>): accepted from any client and forwarded to its next hop.</summary>
public sealed class RelayDomainOptions
{
    /// <summary>The domain's valid recipients, one address or <c>@domain</c> (any user) a line, re-read when saved and
    /// on reload, as Postfix's <c>relay_recipient_maps</c>; others get 550 5.1.1. Defaults to none: every recipient is
    /// accepted (unless <see cref="VerifyWithNextHop"/>), and the next hop bounces unknown ones (backscatter).</summary>
    public string? RecipientsFile { get; set; }

    /// <summary>Ask the next hop about each recipient at RCPT time (connect, EHLO, <c>MAIL FROM:&lt;&gt;</c>,
    /// <c>RCPT TO</c>, RSET, QUIT), as Postfix's <c>reject_unverified_recipient</c>: its 5xx refuses with 550 5.1.1, a
    /// 4xx or no answer gives 450 4.1.1. Used only for addresses the <see cref="RecipientsFile"/> (when set) accepts.
    /// Defaults to false.</summary>
    public bool VerifyWithNextHop { get; set; }
}

/// <summary>How relay recipients are verified with the next hop (<c>Relay:RecipientVerification</c>).</summary>
public sealed class RecipientVerificationOptions
{
    /// <summary>Bound on one verification (resolution, connect, the whole dialogue); past it the recipient gets
    /// 450 4.1.1. Defaults to 30 s: the client is waiting for its RCPT reply, and RFC 5321 gives it 5 minutes.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an accepted recipient stays verified. Defaults to 1 day, as Postfix's
    /// <c>address_verify_positive_expire_time</c> is refreshed.</summary>
    public TimeSpan PositiveCacheTime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a refused recipient stays refused without asking again. Defaults to 1 hour. Temporary failures
    /// are not cached.</summary>
    public TimeSpan NegativeCacheTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most results kept; the expired ones go first, then the oldest. Defaults to 10000.</summary>
    public int CacheSize { get; set; } = 10_000;
}
