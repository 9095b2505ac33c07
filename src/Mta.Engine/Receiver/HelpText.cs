// The built-in 214 replies for HELP and HELP <topic>.
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal static class HelpText
{
    private static readonly Dictionary<string, string> Topics = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HELO"] = "HELO <domain> - identify yourself (SMTP)",
        ["EHLO"] = "EHLO <domain> - identify yourself and list extensions (ESMTP)",
        ["MAIL"] = "MAIL FROM:<reverse-path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8] - start a mail transaction",
        ["RCPT"] = "RCPT TO:<forward-path> - add a recipient",
        ["DATA"] = "DATA - send the message, ended by a line holding only a period",
        ["RSET"] = "RSET - abort the current transaction",
        ["VRFY"] = "VRFY <user> - verify an address",
        ["EXPN"] = "EXPN <list> - expand a mailing list",
        ["HELP"] = "HELP [topic] - this help",
        ["NOOP"] = "NOOP - do nothing",
        ["QUIT"] = "QUIT - close the connection",
        ["SEND"] = "SEND FROM:<reverse-path> - deliver to terminals (when terminal delivery is configured)",
        ["SOML"] = "SOML FROM:<reverse-path> - send to terminal or mail (when configured)",
        ["SAML"] = "SAML FROM:<reverse-path> - send to terminal and mail (when configured)",
        ["TURN"] = "TURN - reverse roles (when enabled)",
    };

    private static readonly SmtpReply Overview = new(214, "2.0.0",
        "Mta commands:",
        "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT",
        "HELP VRFY EXPN SEND SOML SAML TURN",
        "HELP <command> for more; see RFC 5321",
        "End of HELP info");

    public static SmtpReply For(string? topic)
    {
        if (string.IsNullOrWhiteSpace(topic)) return Overview;
        return Topics.TryGetValue(topic.Trim(), out var text)
            ? new SmtpReply(214, "2.0.0", text)
            : new SmtpReply(504, "5.5.1", $"HELP topic not known: {topic.Trim()}");
    }
}
