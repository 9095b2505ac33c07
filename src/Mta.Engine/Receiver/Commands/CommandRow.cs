// One row of the command table: when a verb may run, what it answers when it may not, and the handler that runs it.
using Mta.Protocol;

namespace Mta.Engine.Receiver.Commands;

/// <summary>Whether a command needs TLS.</summary>
internal enum TlsRule
{
    /// <summary>In clear text and inside TLS alike.</summary>
    Any,
    /// <summary>Inside TLS only, unless the listener allows it in clear text (<c>AllowPlaintextAuth</c>); RFC 4954 4.</summary>
    Required,
    /// <summary>Before TLS only (STARTTLS itself).</summary>
    BeforeTls,
}

/// <summary>Whether a command needs an authenticated client.</summary>
internal enum AuthRule
{
    /// <summary>Anyone may send it.</summary>
    None,
    /// <summary>Always (TURN: RFC 2645 1).</summary>
    Required,
    /// <summary>On a submission listener (RFC 6409 4.3).</summary>
    OnSubmission,
}

/// <summary>What the session does with the bytes after a command line.</summary>
internal enum AfterLine { ReadCommand, ReceiveData, ReceiveChunk, DiscardChunk, StartTls, Authenticate, Turn }

/// <summary>Runs a command the table allowed.</summary>
internal delegate ValueTask<AfterLine> CommandHandler(SmtpSession session, SmtpCommand command, CancellationToken aborted);

/// <summary>
/// A verb's rules, checked by <see cref="CommandTable.Check"/> in this order: <see cref="Feature"/> offered, the greeting
/// states of <see cref="RefusedIn"/>, <see cref="Tls"/>, the other states of <see cref="RefusedIn"/>, <see cref="Auth"/>.
/// </summary>
internal sealed record CommandRow(SmtpVerb Verb, CommandHandler Handler)
{
    /// <summary>What the listener or host must offer; <see cref="Feature.None"/> for always.</summary>
    public Feature Feature { get; init; }

    /// <summary>The reply when <see cref="Feature"/> is not offered (502 for most).</summary>
    public SmtpReply? NotOffered { get; init; }

    /// <summary>The states in which the verb is out of sequence, each with its reply (the allowed states are the rest).</summary>
    // An array, not a list interface: Check walks it for every command, and an array walk allocates nothing.
    public (SessionState State, SmtpReply Reply)[] RefusedIn { get; init; } = [];

    /// <summary>Whether the verb needs TLS.</summary>
    public TlsRule Tls { get; init; }

    /// <summary>The reply to a TLS-only verb on a listener with no TLS at all, or to a before-TLS verb inside TLS.
    /// (Inside a TLS-capable listener in clear text, a TLS-only verb gets 538 5.7.11: STARTTLS first.)</summary>
    public SmtpReply? TlsRefusal { get; init; }

    /// <summary>Whether the verb needs AUTH (530 5.7.0 otherwise).</summary>
    public AuthRule Auth { get; init; }

    /// <summary>Whether a refusal from the table counts toward the session's error budget (<c>Limits:MaxErrors</c>).
    /// Every line counts toward <c>Limits:MaxCommandsPerSession</c> before it is even parsed.</summary>
    public bool CountsErrors { get; init; } = true;

    /// <summary>A refused command still has a payload to read and drop (BDAT's chunk): never read as commands.</summary>
    public bool RefusalConsumesPayload { get; init; }

    /// <summary>Called with the table's refusal before it is sent (for the verbs that log refusals).</summary>
    public Action<SmtpSession, SmtpReply>? Refused { get; init; }
}
