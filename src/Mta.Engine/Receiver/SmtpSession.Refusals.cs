// One key=value log line for every 4xx/5xx reply to a client's command, for fail2ban and "why did my mail not arrive".
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    // The command being answered: what a refusal line names (verb, sender, recipient). Before the first command the
    // replies answer the connection itself.
    private SmtpCommand? _command;
    // Set only when no parsed command names the verb; a parsed command's name is made when a refusal is logged, so an
    // accepted command costs no allocation here.
    private string? _verb = "CONNECT";

    /// <summary>Remembers the command a line carried, before the table or a handler answers it.</summary>
    private void Answering(SmtpCommand command)
    {
        _command = command;
        _verb = null;
    }

    private string VerbOfRefusal => _verb ?? _command switch
    {
        UnknownCommand unknown => Printable(unknown.VerbText.ToUpperInvariant(), 16),
        { } command => command.Verb.ToString().ToUpperInvariant(),
        null => "-",
    };

    /// <summary>A line that did not parse: the verb is its first word as sent, so the log shows what the client tried.</summary>
    private void Answering(ReadOnlySequence<byte> unparsed)
    {
        _command = null;
        var reader = new SequenceReader<byte>(unparsed);
        Span<byte> verb = stackalloc byte[16];
        var length = 0;
        while (length < verb.Length && reader.TryRead(out var b) && b is not ((byte)' ' or (byte)'\r' or (byte)'\n'))
            verb[length++] = b;
        _verb = length == 0 ? "-" : Printable(Encoding.ASCII.GetString(verb[..length]).ToUpperInvariant(), 16);
    }

    /// <summary>A line too long to read: nothing of it is a command.</summary>
    private void AnsweringUnreadable()
    {
        _command = null;
        _verb = "-";
    }

    private void LogRefusal(SmtpReply reply)
    {
        if (!_logger.IsEnabled(LogLevel.Information)) return;
        var from = _command is MailCommand mail ? mail.ReversePath.ToPathString() : _transaction?.ReversePath.ToPathString() ?? "-";
        var to = _command is RcptCommand rcpt ? rcpt.ForwardPath.ToPathString() : "-";
        var text = new StringBuilder().Append(reply.Code);
        if (reply.EnhancedCode is { } enhanced) text.Append(' ').Append(enhanced);
        foreach (var line in reply.Lines) text.Append(' ').Append(line);
        LogRefused(SessionId, VerbOfRefusal, $"{_clientName ?? "unknown"}[{ClientLiteral()}]", Printable(HeloName ?? "-", 255),
            Printable(from, 520), Printable(to, 520), Printable(text.ToString(), 1024));
    }

    // Client-chosen text (a HELO name, an unknown verb, a HELP topic echoed in a reply) must not forge a log line.
    private static string Printable(string text, int max)
    {
        if (text.Length > max) text = text[..max];
        foreach (var c in text)
        {
            if (char.IsControl(c)) return string.Create(text.Length, text, static (span, s) =>
            {
                for (var i = 0; i < s.Length; i++) span[i] = char.IsControl(s[i]) ? '?' : s[i];
            });
        }
        return text;
    }

    [LoggerMessage(EventId = LogEvents.Receiver.Refused, Level = LogLevel.Information,
        Message = "session={SessionId} reject command={Command} client={Client} helo={Helo} from={From} to={To} reply=\"{Reply}\"")]
    private partial void LogRefused(string sessionId, string command, string client, string helo, string from, string to, string reply);
}
