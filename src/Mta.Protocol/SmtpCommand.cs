// Immutable records for every parsed SMTP command (RFC 821, RFC 5321 and the ESMTP extensions).
using Mta.Abstractions;

namespace Mta.Protocol;

/// <summary>The command verbs Mta understands.</summary>
public enum SmtpVerb
{
    /// <summary>HELO (RFC 821).</summary>
    Helo,
    /// <summary>EHLO (RFC 5321).</summary>
    Ehlo,
    /// <summary>MAIL FROM.</summary>
    Mail,
    /// <summary>SEND FROM (RFC 821).</summary>
    Send,
    /// <summary>SOML FROM (RFC 821).</summary>
    Soml,
    /// <summary>SAML FROM (RFC 821).</summary>
    Saml,
    /// <summary>RCPT TO.</summary>
    Rcpt,
    /// <summary>DATA.</summary>
    Data,
    /// <summary>BDAT (RFC 3030).</summary>
    Bdat,
    /// <summary>RSET.</summary>
    Rset,
    /// <summary>VRFY.</summary>
    Vrfy,
    /// <summary>EXPN.</summary>
    Expn,
    /// <summary>HELP.</summary>
    Help,
    /// <summary>NOOP.</summary>
    Noop,
    /// <summary>QUIT.</summary>
    Quit,
    /// <summary>TURN (RFC 821).</summary>
    Turn,
    /// <summary>ETRN (RFC 1985).</summary>
    Etrn,
    /// <summary>AUTH (RFC 4954).</summary>
    Auth,
    /// <summary>STARTTLS (RFC 3207).</summary>
    StartTls,
    /// <summary>A verb Mta does not know.</summary>
    Unknown,
}

/// <summary>A syntactically valid SMTP command.</summary>
public abstract record SmtpCommand(SmtpVerb Verb);

/// <summary>HELO with the client's domain as given.</summary>
public sealed record HeloCommand(string Domain) : SmtpCommand(SmtpVerb.Helo);

/// <summary>EHLO with the client's domain or address literal as given.</summary>
public sealed record EhloCommand(string Domain) : SmtpCommand(SmtpVerb.Ehlo);

/// <summary>MAIL, SEND, SOML or SAML FROM; <see cref="SmtpCommand.Verb"/> says which.</summary>
public sealed record MailCommand(SmtpVerb Verb, SmtpAddress ReversePath, MailParameters Parameters) : SmtpCommand(Verb);

/// <summary>RCPT TO.</summary>
public sealed record RcptCommand(SmtpAddress ForwardPath, RcptParameters Parameters) : SmtpCommand(SmtpVerb.Rcpt);

/// <summary>DATA.</summary>
public sealed record DataCommand() : SmtpCommand(SmtpVerb.Data);

/// <summary>BDAT chunk-size [LAST] (RFC 3030).</summary>
public sealed record BdatCommand(long ChunkSize, bool Last) : SmtpCommand(SmtpVerb.Bdat);

/// <summary>RSET.</summary>
public sealed record RsetCommand() : SmtpCommand(SmtpVerb.Rset);

/// <summary>QUIT.</summary>
public sealed record QuitCommand() : SmtpCommand(SmtpVerb.Quit);

/// <summary>TURN.</summary>
public sealed record TurnCommand() : SmtpCommand(SmtpVerb.Turn);

/// <summary>STARTTLS.</summary>
public sealed record StartTlsCommand() : SmtpCommand(SmtpVerb.StartTls);

/// <summary>NOOP; RFC 5321 allows an argument, which has no meaning.</summary>
public sealed record NoopCommand(string? Argument) : SmtpCommand(SmtpVerb.Noop);

/// <summary>VRFY with its (non-empty) argument as given.</summary>
public sealed record VrfyCommand(string Argument) : SmtpCommand(SmtpVerb.Vrfy);

/// <summary>EXPN with its (non-empty) argument as given.</summary>
public sealed record ExpnCommand(string Argument) : SmtpCommand(SmtpVerb.Expn);

/// <summary>ETRN (RFC 1985) with its node or queue name as given.</summary>
public sealed record EtrnCommand(string Argument) : SmtpCommand(SmtpVerb.Etrn);

/// <summary>HELP with the optional topic.</summary>
public sealed record HelpCommand(string? Topic) : SmtpCommand(SmtpVerb.Help);

/// <summary>AUTH (RFC 4954). <paramref name="Mechanism"/> is upper-cased; an initial response of
/// <c>=</c> (empty response) is kept as <c>=</c>.</summary>
public sealed record AuthCommand(string Mechanism, string? InitialResponse) : SmtpCommand(SmtpVerb.Auth);

/// <summary>A command whose verb Mta does not know; not a syntax error, so hooks may handle it.</summary>
/// <param name="VerbText">The first word of the line, upper-cased.</param>
/// <param name="Line">The whole line without CRLF.</param>
public sealed record UnknownCommand(string VerbText, string Line) : SmtpCommand(SmtpVerb.Unknown);
