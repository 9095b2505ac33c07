// The facts about a session that decide whether a command may run now (the command table's columns read them).
namespace Mta.Engine.Receiver.Commands;

/// <summary>
/// The session states a command row can refuse. The values are in the order the table checks them, so when several
/// apply the client hears about the earliest one (greeting before transaction before recipients), as RFC 5321 4.3.2
/// lists the sequence: greeting, MAIL, RCPT, DATA.
/// </summary>
[Flags]
internal enum SessionState
{
    None = 0,
    /// <summary>No HELO or EHLO yet (or the last one was forgotten: STARTTLS, XCLIENT).</summary>
    NotGreeted = 1 << 0,
    /// <summary>Not in an ESMTP session (no EHLO).</summary>
    NotExtended = 1 << 1,
    /// <summary>AUTH succeeded (or XCLIENT LOGIN named a user).</summary>
    Authenticated = 1 << 2,
    /// <summary>MAIL (or SEND, SOML, SAML) accepted and no message finished since.</summary>
    InTransaction = 1 << 3,
    /// <summary>No transaction open.</summary>
    NoTransaction = 1 << 4,
    /// <summary>The transaction's message is arriving in BDAT chunks.</summary>
    Chunking = 1 << 5,
    /// <summary>The transaction declared BODY=BINARYMIME.</summary>
    BinaryBody = 1 << 6,
    /// <summary>A transaction whose every RCPT so far was refused.</summary>
    NoValidRecipients = 1 << 7,
    /// <summary>A transaction with no accepted RCPT yet.</summary>
    NoRecipients = 1 << 8,
}

/// <summary>What this listener and host offer; a row whose feature is absent answers its <see cref="CommandRow.NotOffered"/> reply.</summary>
[Flags]
internal enum Feature
{
    None = 0,
    /// <summary>The listener speaks TLS (STARTTLS or implicit).</summary>
    Tls = 1 << 0,
    /// <summary>CHUNKING and BINARYMIME are in the EHLO reply.</summary>
    Chunking = 1 << 1,
    /// <summary>TURN is answered on this listener.</summary>
    Turn = 1 << 2,
    /// <summary>ETRN is answered.</summary>
    Etrn = 1 << 3,
    /// <summary>The connection came from <c>XClient:Networks</c>.</summary>
    XClient = 1 << 4,
}

/// <summary>Everything the table needs to know about the session, taken once per command.</summary>
/// <param name="State">The session's states.</param>
/// <param name="Features">What the listener and host offer.</param>
/// <param name="TlsActive">The connection is inside TLS.</param>
/// <param name="ClearTextAllowed">A TLS-only command may run in clear text (<c>AllowPlaintextAuth</c> on loopback).</param>
/// <param name="Submission">A submission listener (RFC 6409): mail needs AUTH.</param>
internal readonly record struct SessionFacts(SessionState State, Feature Features, bool TlsActive, bool ClearTextAllowed, bool Submission)
{
    public bool Has(SessionState state) => (State & state) != 0;
}
