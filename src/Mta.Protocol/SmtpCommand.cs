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
    /// <summary>XCLIENT (Postfix's extension: a trusted proxy or test tool gives the real client's facts).</summary>
    XClient,
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

/// <summary>XCLIENT (Postfix XCLIENT_README): the attributes in the order given, each already checked for syntax.</summary>
public sealed record XClientCommand(IReadOnlyList<XClientAttribute> Attributes) : SmtpCommand(SmtpVerb.XClient)
{
    /// <summary>The EHLO keyword line: XCLIENT and every attribute name the parser takes.</summary>
    public static string EhloKeyword { get; } = "XCLIENT " + string.Join(' ', XClientParser.Names);
}

/// <summary>One XCLIENT <c>name=value</c> pair.</summary>
/// <param name="Name">The attribute name, upper-cased: ADDR, NAME, PORT, PROTO, HELO, LOGIN, DESTADDR, DESTPORT or
/// REVERSE_NAME.</param>
/// <param name="Value">The xtext-decoded value; null for <c>[UNAVAILABLE]</c> or <c>[TEMPUNAVAIL]</c> (the fact is
/// unknown). ADDR and DESTADDR are then valid for <see cref="XClientAttribute.TryParseAddress"/>, PORT and DESTPORT
/// are 0-65535, PROTO is <c>SMTP</c> or <c>ESMTP</c> (upper-cased).</param>
public sealed record XClientAttribute(string Name, string? Value)
{
    /// <summary>An XCLIENT address value: IPv4 dotted quad, or <c>IPV6:</c> followed by an IPv6 address.</summary>
    public static bool TryParseAddress(string value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Net.IPAddress? address)
    {
        ArgumentNullException.ThrowIfNull(value);
        address = null;
        var v6 = value.StartsWith("IPV6:", StringComparison.OrdinalIgnoreCase);
        var text = v6 ? value[5..] : value;
        if (text.Length == 0 || text.Contains('%')) return false;
        if (!v6 && (text.Split('.').Length != 4 || !text.All(c => char.IsAsciiDigit(c) || c == '.'))) return false;
        if (!System.Net.IPAddress.TryParse(text, out var parsed)) return false;
        if (parsed.AddressFamily != (v6 ? System.Net.Sockets.AddressFamily.InterNetworkV6 : System.Net.Sockets.AddressFamily.InterNetwork)) return false;
        address = parsed;
        return true;
    }
}

/// <summary>A command whose verb Mta does not know; not a syntax error, so hooks may handle it.</summary>
/// <param name="VerbText">The first word of the line, upper-cased.</param>
/// <param name="Line">The whole line without CRLF.</param>
public sealed record UnknownCommand(string VerbText, string Line) : SmtpCommand(SmtpVerb.Unknown);
