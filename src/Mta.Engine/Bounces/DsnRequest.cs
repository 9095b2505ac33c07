// The facts a delivery status notification (RFC 3464) is built from: one message, its recipients' outcomes.
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Bounces;

/// <summary>The <c>Action</c> of one recipient in a DSN (RFC 3464 section 2.3.3).</summary>
public enum DsnAction
{
    /// <summary>Delivery failed for good (a bounce).</summary>
    Failed,
    /// <summary>Delivery has not succeeded yet and will be retried.</summary>
    Delayed,
    /// <summary>Delivered to the recipient's mailbox.</summary>
    Delivered,
    /// <summary>Passed on to a system that does not send DSNs itself; counts as success for NOTIFY.</summary>
    Relayed,
    /// <summary>Delivered to a list or alias that passed it on to several addresses; counts as success for NOTIFY.</summary>
    Expanded,
}

/// <summary>One recipient's report in a DSN.</summary>
/// <param name="Recipient">The envelope recipient, with its NOTIFY and ORCPT.</param>
/// <param name="Action">What happened to it.</param>
/// <param name="Status">An RFC 3463 status code such as <c>5.1.1</c>; an invalid one is replaced by <c>5.0.0</c>,
/// <c>4.0.0</c> or <c>2.0.0</c> after the action.</param>
/// <param name="DiagnosticCode">The remote server's reply on one line, such as <c>550 5.1.1 &lt;a@b&gt;: no such user</c>
/// (written as <c>Diagnostic-Code: smtp; ...</c>), or null when no server replied.</param>
/// <param name="Detail">A one-line explanation for people (the log line); written as <c>Diagnostic-Code: X-Mta; ...</c>
/// when <paramref name="DiagnosticCode"/> is null.</param>
/// <param name="RemoteMta">The host name of the server that replied (a trailing <c>[address]</c> is dropped), or null.</param>
/// <param name="LastAttempt">When delivery was last tried, or null.</param>
/// <param name="WillRetryUntil">For <see cref="DsnAction.Delayed"/>: when the queue gives up, or null.</param>
public sealed record DsnRecipient(
    EnvelopeRecipient Recipient,
    DsnAction Action,
    string Status,
    string? DiagnosticCode,
    string? Detail,
    string? RemoteMta,
    DateTimeOffset? LastAttempt,
    DateTimeOffset? WillRetryUntil);

/// <summary>Everything needed to build one DSN about one queued message.</summary>
/// <param name="ReportingMta">Our host name, for <c>Reporting-MTA</c>, <c>From</c> and <c>Message-ID</c>.</param>
/// <param name="QueueId">The original message's queue id, written as <c>X-Mta-Queue-ID</c>.</param>
/// <param name="ArrivalDate">When the original message was accepted.</param>
/// <param name="OriginalSender">The reverse-path of the original message.</param>
/// <param name="EnvelopeId">The DSN <c>ENVID</c> (decoded), or null.</param>
/// <param name="Ret">The DSN <c>RET</c>: how much of the original to return.</param>
/// <param name="ReceivedFromMta">The HELO name of the client that sent the original, or null.</param>
/// <param name="Recipients">The recipients reported on; at least one. Usually all of one action, but mixed works.</param>
/// <param name="OriginalMessage">The original message; read once, through <see cref="IMessageContent.OpenRead"/>.</param>
/// <param name="ReturnSizeLimit">The whole original is returned only if its size is at most this many octets;
/// otherwise only its header.</param>
/// <param name="To">Where the DSN goes: the original sender, or the postmaster for a double bounce.</param>
/// <param name="IsDoubleBounce">The original sender was <c>&lt;&gt;</c>, so this copy goes to the postmaster.</param>
/// <param name="Now">The DSN's <c>Date</c>.</param>
public sealed record DsnRequest(
    string ReportingMta,
    string QueueId,
    DateTimeOffset ArrivalDate,
    SmtpAddress OriginalSender,
    string? EnvelopeId,
    DsnReturn Ret,
    string? ReceivedFromMta,
    IReadOnlyList<DsnRecipient> Recipients,
    IMessageContent OriginalMessage,
    int ReturnSizeLimit,
    SmtpAddress To,
    bool IsDoubleBounce,
    DateTimeOffset Now);
