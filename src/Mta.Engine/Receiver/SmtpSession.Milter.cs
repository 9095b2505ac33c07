// The session's side of its milters: the stages they see after the hooks, the macros Postfix gives them, their replies
// as SMTP replies, and their message changes applied to what is spooled before the 250.
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Milter;
using Mta.Protocol;
using Mta.Protocol.Milter;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    private static readonly string MilterMtaVersion = "Mta " + (typeof(SmtpSession).Assembly.GetName().Version?.ToString(3) ?? "1.0.0");

    private MilterChain? _milters;
    private EnvelopeRecipient? _milterRecipient;
    private SmtpReply? _milterRecipientRefusal;

    /// <summary>
    /// Opens the listener's milters and sends them connect; returns the greeting to send instead of 220, or null. As
    /// Postfix's smtpd: a shutdown (421) greets with 421 and closes; a 5xx refusal greets with 554 but the session
    /// goes on; a 4xx refusal greets with 220. Either refusal then answers MAIL and every later command the milter
    /// would see (HELO and EHLO are never refused by a milter).
    /// </summary>
    private async ValueTask<SmtpReply?> StartMiltersAsync(CancellationToken aborted)
    {
        if (_ctx.Milters.For(ListenerName) is not { } milters) return null;
        _milters = new MilterChain(milters, MilterMacro, _ctx.MilterLogger, _ctx.Metrics, SessionId, () => _transaction?.QueueId ?? "-");
        var remote = RemoteEndPoint;
        var family = remote.AddressFamily == AddressFamily.InterNetworkV6 ? MilterAddressFamily.Inet6 : MilterAddressFamily.Inet;
        var outcome = await _milters.ConnectAsync(_clientName ?? $"[{ClientLiteral()}]", family, (ushort)remote.Port, ClientLiteral(), aborted);
        if (MilterRefusal(outcome) is not { } refusal) return null;
        if (refusal.Code == 421) return new SmtpReply(421, null, $"{HostName} Service unavailable - try again later");
        return refusal.Code / 100 == 5 ? new SmtpReply(554, null, $"{HostName} ESMTP not accepting connections") : null;
    }

    private async ValueTask StopMiltersAsync()
    {
        if (_milters is not { } milters) return;
        _milters = null;
        await milters.DisposeAsync();
    }

    /// <summary>The SMTP reply for a milter's refusal or shutdown; null for anything else. A 421 closes the session.</summary>
    private SmtpReply? MilterRefusal(MilterOutcome outcome)
    {
        var answer = outcome.Answer;
        if (answer.Verdict is not (MilterVerdict.Refuse or MilterVerdict.Shutdown)) return null;
        var reply = ParseMilterReply(answer.Reply ?? "421 4.7.0 Server closing connection");
        if (reply.Code == 421)
        {
            _closing = true;
            _closeReason = "shut down by milter " + outcome.Milter;
        }
        return reply;
    }

    /// <summary>"550 5.7.1 text" or a multi-line "550-5.7.1 one\r\n550 5.7.1 two" (checked by the client) as a reply.</summary>
    private static SmtpReply ParseMilterReply(string text)
    {
        var lines = text.Split("\r\n");
        var code = int.Parse(text.AsSpan(0, 3), CultureInfo.InvariantCulture);
        string? enhanced = null;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Length > 4 ? lines[i][4..] : "";
            var space = line.IndexOf(' ');
            var first = space < 0 ? line : line[..space];
            if (EnhancedStatusCode.TryParse(first, out var parsed) && parsed.Class == code / 100)
            {
                enhanced ??= first;
                line = space < 0 ? "" : line[(space + 1)..];
            }
            lines[i] = line;
        }
        return new SmtpReply(code, enhanced, lines);
    }

    /// <summary>MAIL and RCPT as a milter gets them: the path in angle brackets, then each ESMTP parameter.</summary>
    private static string[] MilterArguments(SmtpAddress path, IReadOnlyDictionary<string, string?> parameters)
    {
        var arguments = new string[1 + parameters.Count];
        arguments[0] = path.ToPathString();
        var i = 1;
        foreach (var (key, value) in parameters) arguments[i++] = value is null ? key : key + "=" + value;
        return arguments;
    }

    /// <summary>A macro's value as Postfix's smtpd gives it (smtpd_milter.c), or null when it has none (not sent).</summary>
    private string? MilterMacro(string name) => name switch
    {
        "j" or "{daemon_name}" => HostName,
        "{daemon_addr}" => LocalEndPoint.Address.ToString(),
        "{daemon_port}" => LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture),
        "v" => MilterMtaVersion,
        "_" => $"{_clientName ?? "unknown"} [{ClientLiteral()}]",
        "{client_addr}" => ClientLiteral(),
        "{client_port}" => RemoteEndPoint.Port.ToString(CultureInfo.InvariantCulture),
        "{client_name}" or "{client_ptr}" => _clientName ?? "unknown",
        "{client_resolve}" => _clientName is null ? "FAIL" : "OK",
        "{client_connections}" => _ctx.Admission.CountFor(RemoteEndPoint.Address).ToString(CultureInfo.InvariantCulture),
        "{tls_version}" => Tls?.Protocol,
        "{cipher}" => Tls?.Cipher,
        "{cipher_bits}" => Tls is { } tls ? CipherBits(tls.Cipher) : null,
        "i" => _transaction?.QueueId,
        "{auth_type}" => _authenticatedUser is null ? null : _authMechanism,
        "{auth_authen}" => _authenticatedUser,
        "{auth_author}" => _transaction?.MailParameters.TryGetValue("AUTH", out var author) == true && author is not null and not "<>" ? Xtext.TryDecode(author, out var decoded) ? decoded : author : null,
        "{mail_addr}" => _transaction?.ReversePath.ToString(),
        "{mail_host}" => _transaction is { ReversePath: { IsNull: false } sender } ? sender.Domain : null,
        "{mail_mailer}" => _transaction is { } tx ? MailerOf(tx.ReversePath) : null,
        // A refused recipient: the mailer is "error", the host its status code and the address its text, as Sendmail gives them.
        "{rcpt_addr}" => _milterRecipientRefusal is { } refused ? string.Join(' ', refused.Lines) : _milterRecipient?.Address.ToString(),
        "{rcpt_host}" => _milterRecipientRefusal is { } refused ? refused.EnhancedCode ?? refused.Code.ToString(CultureInfo.InvariantCulture) : _milterRecipient?.Address.Domain,
        "{rcpt_mailer}" => _milterRecipientRefusal is not null ? "error" : _milterRecipient is { } r ? MailerOf(r.Address) : null,
        _ => null,
    };

    // Postfix gives the transport the address resolves to; here local delivery or SMTP are what there is to tell apart.
    private string MailerOf(SmtpAddress address) => address.IsNull || _ctx.LocalDomains.Contains(address.Domain) ? "local" : "smtp";

    private static string CipherBits(string cipher) =>
        cipher.Contains("AES_128", StringComparison.OrdinalIgnoreCase) || cipher.Contains("AES128", StringComparison.OrdinalIgnoreCase) ? "128" : "256";

    /// <summary>
    /// The end of message for the milters: the header fields and body as received (without this server's own trace
    /// fields, as Sendmail), then their changes applied to the message and envelope that will be spooled. Returns the
    /// refusal to answer with, or null (the message goes on; <see cref="Transaction.DiscardedBy"/> may be set).
    /// </summary>
    private async ValueTask<SmtpReply?> MilterMessageAsync(Transaction tx, CancellationToken aborted)
    {
        if (_milters is null || tx.DiscardedBy is not null) return null;
        MilterMessageEditor? editor = null;
        var outcome = await _milters.MessageAsync(() =>
        {
            // Read again for each milter: the one before may have changed the header or replaced the body.
            editor = MilterMessageEditor.Parse(_body.Head(_ctx.Options.Limits.MaxHeaderBytes + 2));
            var bodyStart = editor.BodyStart;
            return (editor.Headers(), () => OpenBodyFrom(bodyStart));
        }, edits => ApplyMilterEdits(tx, editor!, edits), aborted);
        if (MilterRefusal(outcome) is { } refusal) return refusal;
        if (outcome.Answer.Verdict == MilterVerdict.Discard) tx.DiscardedBy = outcome.Milter;
        return null;
    }

    private Stream OpenBodyFrom(long start)
    {
        var stream = _body.OpenRead();
        // The header section is small (Limits:MaxHeaderBytes): skipping it by reading costs little on any stream.
        Span<byte> skip = stackalloc byte[1024];
        var left = start;
        while (left > 0)
        {
            var read = stream.Read(skip[..(int)Math.Min(left, skip.Length)]);
            if (read == 0) break;
            left -= read;
        }
        return stream;
    }

    private void ApplyMilterEdits(Transaction tx, MilterMessageEditor editor, List<MilterEdit> edits)
    {
        byte[]? body = null;
        foreach (var (milter, change) in edits)
        {
            switch (change)
            {
                case MilterChange.AddHeader h:
                    editor.Add(h.Name, h.Value);
                    break;
                case MilterChange.InsertHeader h:
                    editor.Insert(h.Index, h.Name, h.Value);
                    break;
                case MilterChange.ChangeHeader h:
                    editor.Change(h.Index, h.Name, h.Value);
                    break;
                case MilterChange.ReplaceBody b:
                    body = b.Body;
                    break;
                case MilterChange.AddRecipient r:
                    if (MilterPath(r.Address, reverse: false) is { } added && RcptParametersOf(r.Arguments) is { } rcptParameters)
                        tx.AddRecipient(new EnvelopeRecipient(added, rcptParameters.Notify, rcptParameters.OriginalRecipient));
                    else LogMilterChangeRefused(milter, tx.QueueId ?? "-", $"recipient {r.Address} {r.Arguments}");
                    break;
                case MilterChange.DeleteRecipient d:
                    if (MilterPath(d.Address, reverse: false) is { } removed)
                        while (tx.RemoveRecipient(removed)) { }
                    break;
                case MilterChange.Quarantine q:
                    tx.Quarantine = (milter, q.Reason.Length > 0 ? q.Reason : "quarantined");
                    break;
                case MilterChange.ChangeSender s:
                    if (MilterPath(s.Address, reverse: true) is { } sender && MailParametersOf(s.Arguments) is { } mailParameters)
                    {
                        tx.ReversePath = sender;
                        if (s.Arguments is not null) tx.MailParameters = mailParameters.Raw;
                    }
                    else LogMilterChangeRefused(milter, tx.QueueId ?? "-", $"sender {s.Address} {s.Arguments}");
                    break;
            }
        }
        if (body is not null)
        {
            var head = editor.Build();
            byte[] separator = "\r\n"u8.ToArray();
            // A body that does not end its last line would run into whatever follows it on delivery.
            var tail = body.Length > 0 && !body.AsSpan().EndsWith("\r\n"u8) ? separator : [];
            _body.ReplaceContent([head, separator, body, tail]);
        }
        else if (editor.Changed)
        {
            _body.ReplaceHead(editor.Build(), editor.HeaderLength);
        }
        if (edits.Count > 0)
            LogMilterChanged(SessionId, tx.QueueId ?? "-", string.Join(", ", edits.Select(e => e.Milter + ":" + Describe(e.Change))));

        static string Describe(MilterChange change) => change switch
        {
            MilterChange.AddHeader h => "add header " + h.Name,
            MilterChange.InsertHeader h => $"insert header {h.Name} at {h.Index}",
            MilterChange.ChangeHeader h => h.Value.Length == 0 ? $"delete header {h.Name} #{h.Index}" : $"change header {h.Name} #{h.Index}",
            MilterChange.ReplaceBody b => $"replace body ({b.Body.Length} octets)",
            MilterChange.AddRecipient r => "add recipient " + r.Address,
            MilterChange.DeleteRecipient d => "delete recipient " + d.Address,
            MilterChange.ChangeSender s => "change sender to " + s.Address,
            MilterChange.Quarantine q => "quarantine: " + q.Reason,
            _ => change.GetType().Name,
        };
    }

    /// <summary>An address a milter gave, with or without angle brackets; null when it is not a valid path.</summary>
    private static SmtpAddress? MilterPath(string text, bool reverse)
    {
        var path = text.Trim();
        if (!path.StartsWith('<')) path = "<" + path + ">";
        var ok = reverse
            ? SmtpPathParser.TryParseReversePath(path, allowUtf8: true, out var address, out var consumed, out string? _)
            : SmtpPathParser.TryParseForwardPath(path, allowUtf8: true, out address, out consumed, out string? _);
        return ok && consumed == path.Length ? address : null;
    }

    private static RcptParameters? RcptParametersOf(string? arguments) =>
        arguments is null ? RcptParameters.Empty
        : SmtpCommandParser.TryParseRcptParameters(arguments, out var parameters, out _) ? parameters : null;

    private static MailParameters? MailParametersOf(string? arguments) =>
        arguments is null ? MailParameters.Empty
        : SmtpCommandParser.TryParseMailParameters(arguments, out var parameters, out _) ? parameters : null;

    [LoggerMessage(EventId = LogEvents.Milter.Changed, Level = LogLevel.Information, Message = "session={SessionId} id={QueueId} changed by milters: {Changes}")]
    private partial void LogMilterChanged(string sessionId, string queueId, string changes);

    [LoggerMessage(EventId = LogEvents.Milter.Quarantined, Level = LogLevel.Warning, Message = "session={SessionId} id={QueueId} quarantined by milter {Milter}: {Reason}; queued on hold")]
    private partial void LogMilterQuarantined(string sessionId, string queueId, string milter, string reason);

    [LoggerMessage(EventId = LogEvents.Milter.Discarded, Level = LogLevel.Information, Message = "session={SessionId} id={QueueId} discarded by milter {Milter}")]
    private partial void LogMilterDiscarded(string sessionId, string queueId, string milter);

    [LoggerMessage(EventId = LogEvents.Milter.ChangeInvalid, Level = LogLevel.Warning, Message = "milter={Milter} id={QueueId} gave an invalid {Change}; ignored")]
    private partial void LogMilterChangeRefused(string milter, string queueId, string change);
}
