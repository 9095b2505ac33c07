// The milters (Sendmail mail filters) the receiver may call, bound at "Milters"; listeners name the ones they run.
namespace Mta.Engine.Configuration;

/// <summary>
/// <c>Milters</c>: the mail filters speaking the Sendmail milter protocol (OpenDKIM, rspamd, spamass-milter, ClamAV's
/// clamav-milter, ...), as Postfix's <c>smtpd_milters</c>. A milter runs only on the listeners that list its name in
/// <see cref="ListenerOptions.Milters"/>, in that order. Defaults to none.
/// </summary>
public sealed class MiltersOptions
{
    /// <summary>The milters by name (the name is what listeners list, and what logs and metrics call the milter).
    /// Defaults to none.</summary>
    public Dictionary<string, MilterDefinition> Definitions { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One milter: where it listens, how long it may take, and what happens when it cannot answer.</summary>
public sealed class MilterDefinition
{
    /// <summary>Where the milter listens, in Postfix's forms: <c>unix:/run/opendkim/opendkim.sock</c>,
    /// <c>inet:127.0.0.1:8891</c> (host name or IPv4 address, then port), <c>inet6:[::1]:8891</c> or <c>inet:[::1]:8891</c>.
    /// Required.</summary>
    public string Address { get; set; } = "";

    /// <summary>What the session does when the milter cannot be reached, overruns a timeout or breaks the protocol
    /// (Postfix's <c>milter_default_action</c>): <c>Accept</c> (go on as if the milter were not configured, for the rest
    /// of the session), <c>Tempfail</c> (451 4.7.1 to this and every later command the milter would have seen) or
    /// <c>Reject</c> (550 5.5.0). Defaults to <c>Tempfail</c>: fail closed, as a failing hook does.</summary>
    public MilterDefaultAction DefaultAction { get; set; } = MilterDefaultAction.Tempfail;

    /// <summary>How long connecting to the milter may take (Postfix's <c>milter_connect_timeout</c>). Defaults to 30 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the milter may take to answer the negotiation and each SMTP-stage command: connect, HELO,
    /// MAIL, RCPT, DATA, unknown (Postfix's <c>milter_command_timeout</c>). A progress reply starts it again.
    /// Defaults to 30 s.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the milter may take over the message content: each header, the end of headers, each body
    /// chunk and the end of message with its changes (Postfix's <c>milter_content_timeout</c>). A progress reply starts
    /// it again. Defaults to 300 s.</summary>
    public TimeSpan EndOfMessageTimeout { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>The milter protocol version offered: 2, 3, 4 or 6 (Postfix's <c>milter_protocol</c>); a lower version
    /// sends only the stages it knows. Defaults to 6.</summary>
    public int Protocol { get; set; } = 6;
}

/// <summary>What a milter that cannot answer amounts to (<see cref="MilterDefinition.DefaultAction"/>).</summary>
public enum MilterDefaultAction
{
    /// <summary>The milter is left out for the rest of the session; the mail goes on.</summary>
    Accept,
    /// <summary>451 4.7.1: the client tries again later.</summary>
    Tempfail,
    /// <summary>550 5.5.0: the command is refused for good.</summary>
    Reject,
}
