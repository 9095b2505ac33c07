// The built-in 214 replies for HELP and HELP <topic>.
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal static class HelpText
{
    private static readonly Dictionary<string, string> Topics = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HELO"] = "HELO <domain> - identify yourself (SMTP)",
        ["EHLO"] = "EHLO <domain> - identify yourself and list extensions (ESMTP)",
        ["MAIL"] = "MAIL FROM:<reverse-path> [SIZE=n] [BODY=7BIT|8BITMIME|BINARYMIME] [SMTPUTF8] - start a mail transaction",
        ["RCPT"] = "RCPT TO:<forward-path> - add a recipient",
        ["DATA"] = "DATA - send the message, ended by a line holding only a period",
        ["BDAT"] = "BDAT <octets> [LAST] - send the message in chunks of exactly that many octets (RFC 3030; when CHUNKING is offered)",
        ["RSET"] = "RSET - abort the current transaction",
        ["VRFY"] = "VRFY <user> - verify an address",
        ["EXPN"] = "EXPN <list> - expand a mailing list",
        ["HELP"] = "HELP [topic] - this help",
        ["NOOP"] = "NOOP - do nothing",
        ["QUIT"] = "QUIT - close the connection",
        ["SEND"] = "SEND FROM:<reverse-path> - deliver to terminals (when terminal delivery is configured)",
        ["SOML"] = "SOML FROM:<reverse-path> - send to terminal or mail (when configured)",
        ["SAML"] = "SAML FROM:<reverse-path> - send to terminal and mail (when configured)",
        ["TURN"] = "TURN - reverse roles: an authenticated user receives its held mail on this connection (when enabled)",
        ["ETRN"] = "ETRN <domain> | ETRN @<domain> - start delivery of the mail held for a domain (RFC 1985; when configured)",
    };

    /// <summary>The reply to HELP or HELP topic. The overview lists the optional commands only where this session can use
    /// them: BDAT with CHUNKING, SEND SOML SAML with terminal delivery, TURN on a listener that allows it, ETRN when
    /// configured.</summary>
    public static SmtpReply For(string? topic, bool terminals = false, bool turn = false, bool etrn = false, bool chunking = false)
    {
        if (string.IsNullOrWhiteSpace(topic))
        {
            var optional = new List<string>(7) { "HELP", "VRFY", "EXPN" };
            if (chunking) optional.Add("BDAT");
            if (terminals) optional.AddRange(["SEND", "SOML", "SAML"]);
            if (turn) optional.Add("TURN");
            if (etrn) optional.Add("ETRN");
            return new SmtpReply(214, "2.0.0",
                "Mta commands:",
                "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT",
                string.Join(' ', optional),
                "HELP <command> for more; see RFC 5321",
                "End of HELP info");
        }
        return Topics.TryGetValue(topic.Trim(), out var text)
            ? new SmtpReply(214, "2.0.0", text)
            : new SmtpReply(504, "5.5.1", $"HELP topic not known: {topic.Trim()}");
    }
}
