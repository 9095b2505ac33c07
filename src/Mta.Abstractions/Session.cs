// What a hook can know about the SMTP session and the mail transaction in progress.
using System.Net;

namespace Mta.Abstractions;

/// <summary>Facts about one SMTP connection, valid for its whole life.</summary>
public interface ISessionInfo
{
    /// <summary>A short unique id for this connection, written on every log line about it.</summary>
    string SessionId { get; }

    /// <summary>The configured name of the listener that accepted the connection.</summary>
    string ListenerName { get; }

    /// <summary>The client's address and port. An IPv4 client of a dual-stack listener appears as its IPv4 address,
    /// never as IPv4-mapped IPv6, so it compares and prints as configured networks and logs do. Behind a load balancer
    /// it is the client the PROXY protocol header named; after XCLIENT, the client XCLIENT named.</summary>
    IPEndPoint RemoteEndPoint { get; }

    /// <summary>The server's address and port for this connection.</summary>
    IPEndPoint LocalEndPoint { get; }

    /// <summary>The domain the client gave in HELO or EHLO, or null before either.</summary>
    string? HeloName { get; }

    /// <summary>True when the client greeted with EHLO (ESMTP), false for HELO or before a greeting.</summary>
    bool IsExtended { get; }

    /// <summary>TLS protocol and cipher when the connection is encrypted, else null.</summary>
    TlsInfo? Tls { get; }

    /// <summary>The user the client authenticated as, or null.</summary>
    string? AuthenticatedUser { get; }

    /// <summary>True when the client (<see cref="RemoteEndPoint"/>, so after XCLIENT the new one) is in a configured
    /// trusted network (it may relay).</summary>
    bool IsTrustedClient { get; }

    /// <summary>Notes that live as long as the connection: handlers use them to pass facts to later hooks.</summary>
    IDictionary<string, object?> Notes { get; }
}

/// <summary>The negotiated TLS parameters of a connection.</summary>
/// <param name="Protocol">For example <c>TLSv1.3</c>.</param>
/// <param name="Cipher">For example <c>TLS_AES_256_GCM_SHA384</c>.</param>
public sealed record TlsInfo(string Protocol, string Cipher);

/// <summary>Which RFC 821 command opened the transaction, and so where its message goes.</summary>
public enum TransactionKind
{
    /// <summary><c>MAIL FROM</c>: deliver to mailboxes.</summary>
    Mail,
    /// <summary><c>SEND FROM</c>: deliver to the users' terminals.</summary>
    Send,
    /// <summary><c>SOML FROM</c>: deliver to the terminal if the user is active, else to the mailbox.</summary>
    SendOrMail,
    /// <summary><c>SAML FROM</c>: deliver to the terminal if the user is active, and to the mailbox.</summary>
    SendAndMail,
}

/// <summary>DSN <c>NOTIFY</c> conditions of a recipient (RFC 3461 section 4.1).</summary>
[Flags]
public enum DsnNotify
{
    /// <summary>Not given: the server's default (failure and delay).</summary>
    Default = 0,
    /// <summary><c>NEVER</c>.</summary>
    Never = 1,
    /// <summary><c>SUCCESS</c>.</summary>
    Success = 2,
    /// <summary><c>FAILURE</c>.</summary>
    Failure = 4,
    /// <summary><c>DELAY</c>.</summary>
    Delay = 8,
}

/// <summary>One accepted recipient of a transaction.</summary>
/// <param name="Address">The forward-path.</param>
/// <param name="Notify">DSN NOTIFY conditions.</param>
/// <param name="OriginalRecipient">DSN ORCPT value (<c>addr-type;address</c>, decoded), or null.</param>
public sealed record EnvelopeRecipient(SmtpAddress Address, DsnNotify Notify = DsnNotify.Default, string? OriginalRecipient = null);

/// <summary>
/// The mail transaction in progress (from MAIL to the end of DATA). Handlers may rewrite or expand
/// recipients, add header fields to the message and keep notes for later hooks of the same transaction.
/// </summary>
public interface ITransaction
{
    /// <summary>MAIL, SEND, SOML or SAML.</summary>
    TransactionKind Kind { get; }

    /// <summary>The reverse-path; <see cref="SmtpAddress.Null"/> for <c>&lt;&gt;</c>.</summary>
    SmtpAddress ReversePath { get; }

    /// <summary>The MAIL parameters: <c>SIZE</c>, <c>BODY</c>, <c>SMTPUTF8</c>, <c>RET</c>, <c>ENVID</c>, keyed
    /// upper case; a keyword without a value maps to null.</summary>
    IReadOnlyDictionary<string, string?> MailParameters { get; }

    /// <summary>Recipients accepted so far.</summary>
    IReadOnlyList<EnvelopeRecipient> Recipients { get; }

    /// <summary>Adds a recipient (for example when expanding an alias).</summary>
    void AddRecipient(EnvelopeRecipient recipient);

    /// <summary>Removes the first recipient with this address; returns whether one was removed.</summary>
    bool RemoveRecipient(SmtpAddress address);

    /// <summary>Header fields to prepend to the message when it is queued, in order.</summary>
    IReadOnlyList<KeyValuePair<string, string>> AddedHeaders { get; }

    /// <summary>Prepends a header field to the message (after the Received trace field).</summary>
    /// <param name="name">Field name, without the colon.</param>
    /// <param name="value">Field value, without the trailing CRLF; may contain folded lines.</param>
    void AddHeader(string name, string value);

    /// <summary>Notes that live until the transaction ends (RSET, end of DATA, new MAIL).</summary>
    IDictionary<string, object?> Notes { get; }

    /// <summary>The SPF, DKIM, DMARC and ARC results of the received message, set after the final dot and before the
    /// data_post hooks. Null before then, and for mail the server does not verify (from authenticated clients and
    /// trusted networks, which it signs instead, or with <c>Authentication:Verify:Enabled</c> off).</summary>
    MessageAuthentication? Authentication { get; }
}
