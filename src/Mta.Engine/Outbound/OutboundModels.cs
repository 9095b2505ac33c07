// What the queue hands the SMTP client and what it gets back: targets, envelopes, per-recipient results.
using System.Net;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Protocol;

namespace Mta.Engine.Outbound;

/// <summary>One address to connect to: the host's name (for TLS and logs), one of its addresses, and the port; or a
/// Unix socket (<see cref="SocketPath"/>, made with <see cref="Unix"/>), as an LMTP server on the same host listens.</summary>
public sealed record SmtpTarget(string HostName, IPAddress Address, int Port)
{
    /// <summary>The Unix socket to connect to instead of <see cref="Address"/> and <see cref="Port"/>, or null.</summary>
    public string? SocketPath { get; init; }

    /// <summary>A Unix socket on this host.</summary>
    public static SmtpTarget Unix(string path) => new("localhost", IPAddress.Loopback, 0) { SocketPath = path };

    public override string ToString() => SocketPath is null ? $"{HostName}[{Address}]:{Port}" : "unix:" + SocketPath;
}

/// <summary>How to talk to a next hop: the EHLO name, the TLS policy, optional AUTH credentials, the timeouts,
/// whether to send with BDAT when the server offers CHUNKING (<see cref="RelayOptions.UseChunking"/>), and whether the
/// server speaks LMTP (RFC 2033: LHLO, and one reply per accepted recipient after the message).</summary>
public sealed record ConnectionSettings(string HeloName, OutboundTlsPolicy Tls, string? UserName, string? Password, SmtpClientTimeouts Timeouts,
    bool UseChunking = true, bool Lmtp = false);

/// <summary>One recipient of an outbound transaction, with its DSN parameters (passed on when the server offers DSN).</summary>
public sealed record OutboundRecipient(SmtpAddress Address, DsnNotify Notify = DsnNotify.Default, string? OriginalRecipient = null);

/// <summary>The envelope of one outbound transaction.</summary>
/// <param name="ReversePath">MAIL FROM; <see cref="SmtpAddress.Null"/> for a bounce.</param>
/// <param name="Recipients">RCPT TO, in order; results come back in the same order.</param>
/// <param name="Size">Message size in octets, sent as SIZE= and checked against the server's SIZE limit first.</param>
/// <param name="Body">The BODY the message was received with: 8BITMIME needs a server that offers it.</param>
/// <param name="RequiresSmtpUtf8">The envelope or header has UTF-8 addresses: the server must offer SMTPUTF8.</param>
/// <param name="Ret">DSN RET, passed on when the server offers DSN.</param>
/// <param name="EnvelopeId">DSN ENVID, passed on when the server offers DSN.</param>
public sealed record OutboundEnvelope(
    SmtpAddress ReversePath,
    IReadOnlyList<OutboundRecipient> Recipients,
    long Size,
    BodyType Body = BodyType.Unspecified,
    bool RequiresSmtpUtf8 = false,
    DsnReturn Ret = DsnReturn.Unspecified,
    string? EnvelopeId = null);

/// <summary>What became of one recipient in a transaction.</summary>
public enum RecipientStatus
{
    /// <summary>The server took responsibility for it (2xx after the final dot).</summary>
    Delivered,
    /// <summary>4xx, or the connection failed: try again later.</summary>
    Deferred,
    /// <summary>5xx, or the message cannot be sent to this server at all (size, 8BITMIME, SMTPUTF8): bounce.</summary>
    Failed,
}

/// <summary>One recipient's result.</summary>
/// <param name="Status">Delivered, deferred or failed.</param>
/// <param name="Reply">The server reply that decided it (RCPT's, or the one after DATA), or null when none did.</param>
/// <param name="Detail">One line for logs and DSNs, e.g. <c>host mx.example.org[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO command)</c>.</param>
public sealed record RecipientResult(RecipientStatus Status, SmtpReply? Reply, string Detail)
{
    /// <summary>The RFC 3463 code when no reply decided it (a message this side refused to send, e.g. <c>5.3.4</c> over
    /// the server's SIZE), or null: the delivery agent then derives it from <see cref="Reply"/>.</summary>
    public string? EnhancedStatus { get; init; }
}

/// <summary>The outcome of one transaction.</summary>
/// <param name="Recipients">Index-aligned with <see cref="OutboundEnvelope.Recipients"/>.</param>
/// <param name="DsnPassedOn">The server offered DSN and took NOTIFY/ORCPT/RET/ENVID: it sends any further DSNs, so no
/// "relayed" notice is due from us.</param>
public sealed record TransactionResult(IReadOnlyList<RecipientResult> Recipients, bool DsnPassedOn);

/// <summary>Where in a session a failure happened.</summary>
public enum SessionStage { Connect, Greeting, Ehlo, StartTls, Auth, Mail, Rcpt, Data, Quit }

/// <summary>
/// The session failed as a whole (no connection, a 4xx/5xx greeting, TLS required but not offered, AUTH refused,
/// a timeout, the connection dropped). Every such failure is temporary for the destination: the mail is deferred, as
/// Postfix does. <see cref="TransactionStarted"/> tells whether MAIL had been sent: if not, retrying at once (or
/// with another MX host) cannot deliver twice.
/// </summary>
public sealed class SmtpSessionException(string message, SessionStage stage, SmtpReply? reply = null, bool transactionStarted = false, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The stage that failed.</summary>
    public SessionStage Stage { get; } = stage;
    /// <summary>The server's reply, when a reply (not a network error or timeout) was the failure.</summary>
    public SmtpReply? Reply { get; } = reply;
    /// <summary>True once MAIL FROM has been sent in this session's current transaction.</summary>
    public bool TransactionStarted { get; } = transactionStarted;
}
