// One SMTP conversation: reads command lines and DATA from the socket, runs check -> hook -> proceed, writes replies.
using System.Buffers;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Buffers;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Spool;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession : ISessionInfo, IAsyncDisposable
{
    private static readonly SmtpReply Ok = new(250, "2.0.0", "Ok");

    private readonly ReceiverContext _ctx;
    private readonly ILogger _logger;
    private readonly SmtpConnection _connection;
    private readonly ListenerTlsMode _tlsMode;
    private readonly MessageSink _body;
    private Dictionary<string, object?>? _notes;
    private Transaction? _transaction;
    private bool _skippingLongLine;
    private int _commands;
    private long _chunkSize;
    private bool _chunkLast;
    private SmtpReply? _chunkRefusal;
    private AuthCommand? _pendingAuth;
    private string? _authenticatedUser;
    private readonly bool _allowPlaintextAuth;
    private readonly ListenerRole _role;
    private readonly bool _requireOwnSender;
    private readonly bool _allowTurn;
    private readonly HashSet<string>? _acceptDomains;
    private int _messagesAccepted;
    private bool _closing;
    private int _errors;
    private string _closeReason = "client closed";

    public SmtpSession(ReceiverContext context, SmtpConnection connection, string listenerName, ListenerTlsMode tlsMode, IPEndPoint remote, IPEndPoint local,
        bool allowPlaintextAuth = false, ListenerRole role = ListenerRole.Smtp, bool requireOwnSender = true, bool allowTurn = false,
        IReadOnlyCollection<string>? acceptDomains = null)
    {
        _role = role;
        _allowTurn = allowTurn;
        // The domains a TURN this side asked for delivers here: their recipients are accepted although they are not local.
        if (acceptDomains is { Count: > 0 })
            _acceptDomains = new HashSet<string>(acceptDomains.Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        _requireOwnSender = requireOwnSender;
        _allowPlaintextAuth = allowPlaintextAuth && IPAddress.IsLoopback(local.Address);
        _ctx = context;
        _logger = context.Logger;
        _connection = connection;
        _tlsMode = tlsMode;
        ListenerName = listenerName;
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        SessionId = SessionIds.Next();
        IsTrustedClient = context.TrustedNetworks.Contains(remote.Address);
        // Decided once, on the address the connection came from: an XCLIENT cannot grant itself the next one.
        _xclientAllowed = context.XClientNetworks.Contains(remote.Address);
        _body = new MessageSink(context.Spool, context.DataBudget, context.Options.Limits.Data.MemoryThreshold);
    }

    public string SessionId { get; }
    public string ListenerName { get; }
    // Set at connect (from the socket or a PROXY header) and replaced only by XCLIENT, between transactions.
    public IPEndPoint RemoteEndPoint { get; private set; }
    public IPEndPoint LocalEndPoint { get; private set; }
    public string? HeloName { get; private set; }
    public bool IsExtended { get; private set; }
    public TlsInfo? Tls => _connection.Tls;
    public string? AuthenticatedUser => _authenticatedUser;
    public bool IsTrustedClient { get; private set; }
    public IDictionary<string, object?> Notes => _notes ??= new(StringComparer.Ordinal);

    /// <summary>Why the session ended (as the disconnect hook and log give it): <c>quit</c>, <c>timeout</c>, ...</summary>
    internal string CloseReason => _closeReason;

    /// <summary>Messages this session accepted (2xx after the final dot): spooled, or taken by a queue hook.</summary>
    internal int MessagesAccepted => Volatile.Read(ref _messagesAccepted);

    private HookPipeline Hooks => _ctx.Hooks;
    private string HostName => _ctx.Options.HostName;

    /// <summary>Asks an idle session to close with 421; a session inside DATA finishes its message first.</summary>
    public void RequestStop() => _connection.RequestStop();

    /// <summary>Ends the session now, whatever it is doing (shutdown grace period over).</summary>
    public void Abort() => _connection.Abort();

    public async Task RunAsync(CancellationToken aborted)
    {
        LogConnected(SessionId, RemoteEndPoint, ListenerName);
        _connection.StartSessionClock();
        try
        {
            // RFC 8314 3.3: on an implicit TLS port the handshake comes before any SMTP byte, the greeting included.
            if (_tlsMode == ListenerTlsMode.Implicit && !await StartTlsAsync(aborted)) return;
            var outcome = await Hooks.RunAsync(new ConnectContext(this), aborted);
            if (!outcome.IsContinue && outcome.Result.Decision != HookDecision.Accept)
            {
                Reply(FromHook(outcome, new SmtpReply(554, "5.7.1", "Connection refused")), countError: false);
                _closeReason = "refused by " + outcome.HandlerName;
                await FlushAsync();
                return;
            }
            if (await _connection.IsEarlyTalkerAsync(aborted))
            {
                Reply(new SmtpReply(554, "5.5.0", "Protocol error: data sent before the greeting"), countError: false);
                _closeReason = "early talker";
                await FlushAsync();
                return;
            }
            Reply(new SmtpReply(220, null, $"{HostName} ESMTP Mta"));
            await FlushAsync();
            await CommandLoopAsync(aborted);
        }
        catch (SessionTimeoutException ex)
        {
            _closeReason = ex.Reason == TimeoutReason.TooSlow ? "too slow" : "timeout";
            if (ex.Reason == TimeoutReason.TooSlow) LogTooSlow(SessionId, RemoteEndPoint, _ctx.Options.Limits.MinDataRate);
            await TryFinalReplyAsync(ex.Reason == TimeoutReason.TooSlow
                ? new SmtpReply(421, "4.4.2", $"{HostName} Error: too slow, less than {_ctx.Options.Limits.MinDataRate} bytes per second, closing connection")
                : new SmtpReply(421, "4.4.2", $"{HostName} Error: timeout exceeded"));
        }
        catch (SessionStoppingException)
        {
            _closeReason = "server stopping";
            await TryFinalReplyAsync(new SmtpReply(421, "4.3.2", $"{HostName} Service shutting down, closing transmission channel"));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _closeReason = "connection lost";
        }
        catch (Exception ex)
        {
            // Last line of defence: a bug must cost this client a 421, never the server.
            LogSessionFailed(ex, SessionId);
            _closeReason = "internal error";
            await TryFinalReplyAsync(new SmtpReply(421, "4.3.0", $"{HostName} Error: internal error, closing connection"));
        }
        finally
        {
            LogDisconnected(SessionId, _closeReason);
            try { await Hooks.NotifyAsync(new DisconnectContext(this, _closeReason), CancellationToken.None); }
            catch (Exception ex) { LogSessionFailed(ex, SessionId); }
        }
    }

    private async Task CommandLoopAsync(CancellationToken aborted)
    {
        while (!_closing)
        {
            var result = await _connection.ReadAsync(ReadKind.Command, stopWhenIdle: _transaction is null);
            var buffer = result.Buffer;
            var next = AfterLine.ReadCommand;
            while (!_closing)
            {
                if (_skippingLongLine)
                {
                    _skippingLongLine = !SmtpLineReader.TrySkipToEndOfLine(buffer, out var skipped);
                    buffer = buffer.Slice(skipped);
                    if (_skippingLongLine) break;
                }
                // AUTH lines may carry a long initial response (RFC 4954: 12288 octets); every other command 512.
                var status = SmtpLineReader.TryReadCommandLine(buffer, out var line, out var consumed, out var lineLimit);
                if (status == LineStatus.Incomplete) break;
                if (status == LineStatus.TooLong)
                {
                    Reply(new SmtpReply(500, "5.5.6", $"Line too long (at most {lineLimit} octets including CRLF)"));
                    _skippingLongLine = true;
                    continue;
                }
                buffer = buffer.Slice(consumed);
                next = await ExecuteLineAsync(line, aborted);
                if (next != AfterLine.ReadCommand) break;
            }
            // DATA and BDAT hand the bytes after their line to a reader of their own, so the command
            // buffer must be released exactly there: what follows is message data, never commands.
            var handOver = next != AfterLine.ReadCommand;
            _connection.Input.AdvanceTo(buffer.Start, handOver ? buffer.Start : buffer.End);
            await FlushAsync();
            if (next == AfterLine.Turn)
            {
                // After TURN this connection belongs to the sending side; the command loop never resumes.
                await TurnAroundAsync(aborted);
                return;
            }
            if (next == AfterLine.StartTls)
            {
                if (!await StartTlsAsync(aborted)) return;
                continue;
            }
            if (handOver)
            {
                if (next == AfterLine.ReceiveData) await ReceiveDataAsync(aborted);
                else if (next == AfterLine.ReceiveChunk) await ReceiveChunkAsync(aborted);
                else if (next == AfterLine.Authenticate) await AuthenticateAsync(_pendingAuth!, aborted);
                else await DiscardChunkAsync();
                await FlushAsync();
                continue;
            }
            if (result.IsCompleted && !_closing)
            {
                _closeReason = "client closed";
                return;
            }
            if (_connection.StopRequested && _transaction is null) throw new SessionStoppingException();
        }
    }

    private enum AfterLine { ReadCommand, ReceiveData, ReceiveChunk, DiscardChunk, StartTls, Authenticate, Turn }

    /// <summary>Parses and runs one command line, and says what the bytes after it are.</summary>
    private async ValueTask<AfterLine> ExecuteLineAsync(ReadOnlySequence<byte> line, CancellationToken aborted)
    {
        if (++_commands > _ctx.Options.Limits.MaxCommandsPerSession)
        {
            Reply(new SmtpReply(421, "4.7.0", $"{HostName} Error: too many commands"), countError: false);
            _closing = true;
            _closeReason = "too many commands";
            return AfterLine.ReadCommand;
        }
        var options = new ParserOptions(IsExtended, _transaction?.Utf8 ?? false);
        CommandParseResult parsed;
        if (line.IsSingleSegment)
        {
            parsed = SmtpCommandParser.Parse(line.FirstSpan, options);
        }
        else
        {
            // An AUTH line may be 12 KiB: too much for the stack, so long lines borrow from the pool.
            var length = (int)line.Length;
            var rented = length > SmtpLimits.MaxCommandLine ? ArrayPool<byte>.Shared.Rent(length) : null;
            Span<byte> copy = rented is null ? stackalloc byte[SmtpLimits.MaxCommandLine] : rented;
            copy = copy[..length];
            line.CopyTo(copy);
            parsed = SmtpCommandParser.Parse(copy, options);
            // Cleared: an AUTH line carries a credential, and the pool is shared.
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
        if (!parsed.IsSuccess)
        {
            Reply(parsed.Error!);
            return AfterLine.ReadCommand;
        }

        var command = parsed.Command!;
        switch (command)
        {
            case HeloCommand helo: await OnHeloAsync(helo.Domain, extended: false, aborted); return AfterLine.ReadCommand;
            case EhloCommand ehlo: await OnHeloAsync(ehlo.Domain, extended: true, aborted); return AfterLine.ReadCommand;
            case MailCommand mail: await OnMailAsync(mail, aborted); return AfterLine.ReadCommand;
            case RcptCommand rcpt: await OnRcptAsync(rcpt, aborted); return AfterLine.ReadCommand;
            case DataCommand: return await OnDataAsync(aborted) ? AfterLine.ReceiveData : AfterLine.ReadCommand;
            case BdatCommand bdat: return await OnBdatAsync(bdat, aborted);
            case RsetCommand: await OnRsetAsync(aborted); return AfterLine.ReadCommand;
            case NoopCommand: await SimpleAsync(new NoopContext(this), Ok, aborted); return AfterLine.ReadCommand;
            case QuitCommand: await OnQuitAsync(aborted); return AfterLine.ReadCommand;
            case VrfyCommand vrfy:
                await SimpleAsync(new VrfyContext(this, vrfy.Argument),
                    new SmtpReply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"), aborted);
                return AfterLine.ReadCommand;
            case ExpnCommand expn:
                await SimpleAsync(new ExpnContext(this, expn.Argument),
                    new SmtpReply(252, "2.5.0", "Cannot EXPN list, but will accept message and attempt delivery"), aborted);
                return AfterLine.ReadCommand;
            case HelpCommand help:
                await SimpleAsync(new HelpContext(this, help.Topic), HelpText.For(help.Topic, _ctx.TerminalsEnabled, OffersTurn, OffersEtrn, OffersChunking), aborted);
                return AfterLine.ReadCommand;
            case TurnCommand:
                return await OnTurnAsync(aborted);
            case StartTlsCommand:
                if (_tlsMode == ListenerTlsMode.None)
                {
                    Reply(new SmtpReply(502, "5.5.1", "STARTTLS not available"));
                    return AfterLine.ReadCommand;
                }
                if (Tls is not null)
                {
                    Reply(new SmtpReply(503, "5.5.1", "TLS already active"));
                    return AfterLine.ReadCommand;
                }
                Reply(new SmtpReply(220, "2.0.0", "Ready to start TLS"), countError: false);
                return AfterLine.StartTls;
            case AuthCommand auth:
                return BeginAuth(auth);
            case XClientCommand xclient:
                await OnXClientAsync(xclient, aborted);
                return AfterLine.ReadCommand;
            case EtrnCommand etrn:
                OnEtrn(etrn.Argument);
                return AfterLine.ReadCommand;
            case UnknownCommand unknown:
                await SimpleAsync(new UnrecognizedCommandContext(this, unknown.VerbText.ToUpperInvariant(), unknown.Line),
                    new SmtpReply(500, "5.5.2", "Command not recognized"), aborted);
                return AfterLine.ReadCommand;
            default:
                Reply(new SmtpReply(502, "5.5.1", "Command not implemented"));
                return AfterLine.ReadCommand;
        }
    }

    private async ValueTask OnHeloAsync(string domain, bool extended, CancellationToken aborted)
    {
        var outcome = extended
            ? await Hooks.RunAsync(new EhloContext(this, domain), aborted)
            : await Hooks.RunAsync(new HeloContext(this, domain), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return;
        }
        // RFC 5321 4.1.4: a new greeting ends any transaction in progress.
        EndTransaction();
        HeloName = domain;
        IsExtended = extended;
        var first = $"{HostName} Hello {domain} [{ClientLiteral()}]";
        if (outcome.Result.Decision == HookDecision.Accept && outcome.Result.Text is { } text) first = text;
        if (!extended)
        {
            Reply(new SmtpReply(250, null, first));
            return;
        }
        var keywords = new List<string>(10) { first, $"SIZE {_ctx.Options.Limits.MaxMessageSize}", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN" };
        if (OffersChunking) keywords.AddRange(["CHUNKING", "BINARYMIME"]);
        if (OffersStartTls) keywords.Add("STARTTLS");
        if (OffersAuth && _authenticatedUser is null) keywords.Add("AUTH " + Sasl.Mechanisms);
        if (OffersEtrn) keywords.Add("ETRN");
        // SEND, SOML, SAML and TURN are RFC 821 commands, not registered ESMTP keywords (RFC 5321 dropped them); they are
        // listed, as Exchange lists TURN, so a client can see they work here. Clients ignore keywords they do not know
        // (RFC 5321 4.1.1.1).
        if (_ctx.TerminalsEnabled) keywords.AddRange(["SEND", "SOML", "SAML"]);
        if (OffersTurn) keywords.Add("TURN");
        if (_xclientAllowed) keywords.Add(XClientCommand.EhloKeyword);
        keywords.Add("HELP");
        var lines = keywords.ToArray();
        Reply(new SmtpReply(250, null, lines));
    }

    private async ValueTask OnMailAsync(MailCommand mail, CancellationToken aborted)
    {
        if (HeloName is null)
        {
            Reply(new SmtpReply(503, "5.5.1", "Send HELO or EHLO first"));
            return;
        }
        if (_transaction is not null)
        {
            Reply(new SmtpReply(503, "5.5.1", "Nested MAIL command"));
            return;
        }
        if (_role == ListenerRole.Submission && SubmissionRefusal(mail.ReversePath) is { } refusal)
        {
            Reply(refusal);
            return;
        }
        var p = mail.Parameters;
        if (p.Size is { } declared && declared > _ctx.Options.Limits.MaxMessageSize)
        {
            Reply(new SmtpReply(552, "5.3.4", $"Message size exceeds fixed limit of {_ctx.Options.Limits.MaxMessageSize} octets"));
            return;
        }
        var kind = mail.Verb switch
        {
            SmtpVerb.Send => TransactionKind.Send,
            SmtpVerb.Soml => TransactionKind.SendOrMail,
            SmtpVerb.Saml => TransactionKind.SendAndMail,
            _ => TransactionKind.Mail,
        };
        if (p.Body == BodyType.BinaryMime && !OffersChunking)
        {
            Reply(new SmtpReply(555, "5.5.4", "BODY=BINARYMIME not available here (BINARYMIME and CHUNKING are not offered)"));
            return;
        }
        var transaction = new Transaction(kind, mail.ReversePath, p.Raw, p.SmtpUtf8) { Binary = p.Body == BodyType.BinaryMime };
        var outcome = await Hooks.RunAsync(new MailContext(this, transaction), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return;
        }
        // With terminal delivery on, SEND/SOML/SAML open a transaction as MAIL does; without it only a hook's Accept can.
        if (kind != TransactionKind.Mail && !_ctx.TerminalsEnabled && outcome.Result.Decision != HookDecision.Accept)
        {
            Reply(new SmtpReply(502, "5.5.1", $"{mail.Verb.ToString().ToUpperInvariant()} not available: no terminal delivery is configured"));
            return;
        }
        _transaction = transaction;
        Reply(FromHook(outcome, Ok));
    }

    private async ValueTask OnRcptAsync(RcptCommand rcpt, CancellationToken aborted)
    {
        var tx = _transaction;
        if (tx is null)
        {
            Reply(new SmtpReply(503, "5.5.1", "Need MAIL command"));
            return;
        }
        var recipient = new EnvelopeRecipient(rcpt.ForwardPath, rcpt.Parameters.Notify, rcpt.Parameters.OriginalRecipient);
        var address = rcpt.ForwardPath;
        if (tx.Recipients.Count >= _ctx.Options.Limits.MaxRecipients)
        {
            // RFC 5321 4.5.3.1.10: 452 asks the client to send the rest in another transaction.
            Reply(new SmtpReply(452, "4.5.3", "Too many recipients"));
            tx.RejectedRecipients++;
            return;
        }
        var isLocal = address.Domain.Length == 0 || _ctx.IsLocalDomain(address.Domain);
        var outcome = await Hooks.RunAsync(new RcptContext(this, tx, recipient, isLocal), aborted);
        SmtpReply reply;
        if (IsRefusal(outcome))
        {
            reply = FromHook(outcome, null);
        }
        else if (outcome.Result.Decision == HookDecision.Accept)
        {
            reply = FromHook(outcome, new SmtpReply(250, "2.1.5", "Ok"));
        }
        else if (tx.Kind != TransactionKind.Mail)
        {
            reply = await TerminalRecipientCheckAsync(tx.Kind, address, isLocal, aborted);
        }
        else
        {
            reply = BuiltInRecipientCheck(address, isLocal);
        }
        if (reply.Code / 100 == 2) tx.AddRecipient(recipient);
        else tx.RejectedRecipients++;
        Reply(reply);
    }

    private SmtpReply BuiltInRecipientCheck(SmtpAddress address, bool isLocal)
    {
        if (isLocal) return _ctx.RecipientPolicy.Reply(address);
        if (IsTrustedClient || AuthenticatedUser is not null)
            return new SmtpReply(250, "2.1.5", "Ok");
        if (_acceptDomains is not null && _acceptDomains.Contains(address.Domain.TrimEnd('.')))
            return new SmtpReply(250, "2.1.5", "Ok");
        return new SmtpReply(554, "5.7.1", $"{address.ToPathString()}: Relay access denied");
    }

    private async ValueTask<bool> OnDataAsync(CancellationToken aborted)
    {
        var tx = _transaction;
        if (tx is null)
        {
            Reply(new SmtpReply(503, "5.5.1", "Need MAIL command"));
            return false;
        }
        if (tx.Chunks is not null)
        {
            // RFC 3030 2: DATA and BDAT cannot be mixed in one transaction.
            Reply(new SmtpReply(503, "5.5.1", "DATA not allowed after BDAT in the same transaction"));
            return false;
        }
        if (tx.Binary)
        {
            Reply(new SmtpReply(503, "5.5.1", "BODY=BINARYMIME requires BDAT, not DATA (RFC 3030 3)"));
            return false;
        }
        if (tx.Recipients.Count == 0)
        {
            Reply(tx.RejectedRecipients > 0
                ? new SmtpReply(554, "5.5.1", "No valid recipients")
                : new SmtpReply(503, "5.5.1", "Need RCPT command"));
            return false;
        }
        var outcome = await Hooks.RunAsync(new DataContext(this, tx), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return false;
        }
        Reply(new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>"));
        return true;
    }

    private async Task ReceiveDataAsync(CancellationToken aborted)
    {
        var tx = _transaction!;
        var decoder = new DataDecoder(_ctx.Options.Limits.MaxMessageSize, SmtpLimits.MaxTextLine);
        _body.Reset();
        _connection.StartMessageClock();
        try
        {
            while (true)
            {
                var result = await _connection.ReadAsync(ReadKind.Data);
                var consumed = decoder.Decode(result.Buffer, _body);
                await _body.FlushAsync(decoder.IsComplete, aborted);
                if (decoder.IsComplete)
                {
                    _connection.Input.AdvanceTo(consumed);
                    break;
                }
                _connection.Input.AdvanceTo(consumed, result.Buffer.End);
                if (result.IsCompleted)
                {
                    _closeReason = "client closed during DATA";
                    _closing = true;
                    EndTransaction();
                    return;
                }
            }
            var reply = await FinishMessageAsync(tx, decoder, aborted);
            if (reply.Code / 100 == 2) Interlocked.Increment(ref _messagesAccepted);
            Reply(reply);
        }
        finally
        {
            _connection.StopMessageClock();
            _body.Reset();
            EndTransaction();
        }
    }

    private async ValueTask<SmtpReply> FinishMessageAsync(Transaction tx, DataDecoder decoder, CancellationToken aborted)
    {
        if (decoder.SizeExceeded)
            return new SmtpReply(552, "5.3.4", $"Message size exceeds fixed limit of {_ctx.Options.Limits.MaxMessageSize} octets");
        if (DataRefusal() is { } storageRefusal)
            return storageRefusal;
        if (decoder.NulSeen)
            return new SmtpReply(554, "5.6.0", "Message refused: NUL character found; only BODY=BINARYMIME sent with BDAT may contain NUL (RFC 5321 4.5.2, RFC 3030)");
        if (decoder.BareLineEndingSeen)
            return new SmtpReply(554, "5.6.0", "Message refused: bare CR or LF found; lines must end with CRLF (RFC 5321 2.3.8)");
        if (decoder.LineTooLong)
            return new SmtpReply(554, "5.6.0", $"Message refused: a line is longer than {SmtpLimits.MaxTextLine} octets (RFC 5321 4.5.3.1.6)");
        // Only the header section is read: a spilled message is never brought back into memory whole.
        var window = _ctx.Options.Limits.MaxHeaderBytes + 2;
        // Read once for both checks: for a spilled message it comes from the body file.
        var head = _body.Head(window);
        if (HeaderLimits.Check(head, _ctx.Options.Limits, truncated: _body.IsSpilled && _body.Length > window) is { } headerRefusal)
            return headerRefusal;

        RemoveForgedFields(head);
        using var spilledView = _body.IsSpilled ? new StreamedMessage(() => _body.OpenRead(), _body.Length) : null;
        IMessageContent received = spilledView ?? (IMessageContent)new BufferedMessage(_body.InMemory()!.Value);
        var (authenticationResults, verificationFailure) = await VerifyAsync(tx, received, aborted);
        if (verificationFailure is not null) return verificationFailure;
        var post = await Hooks.RunAsync(new DataPostContext(this, tx, received), aborted);
        if (IsRefusal(post)) return FromHook(post, null);
        if (tx.Recipients.Count == 0) return new SmtpReply(554, "5.5.1", "No valid recipients");
        var (dmarcRefusal, quarantine) = post.Result.Decision == HookDecision.Accept ? (null, false) : ApplyDmarcPolicy(tx);
        if (dmarcRefusal is not null) return dmarcRefusal;

        var queueId = QueueIds.Next();
        var now = _ctx.Time.GetUtcNow();
        var prefix = BuildTracePrefix(tx, queueId, now, authenticationResults, quarantine);
        var size = prefix.Length + _body.Length;
        using var queuedView = _body.IsSpilled ? new StreamedMessage(() => _body.OpenRead(prefix), size) : null;
        var queue = await Hooks.RunAsync(new QueueContext(this, tx, queuedView ?? (IMessageContent)new BufferedMessage(_body.InMemory(prefix)!.Value)), aborted);
        if (IsRefusal(queue)) return FromHook(queue, null);
        if (queue.Result.Decision == HookDecision.Accept)
        {
            LogTransaction(tx, queueId, size, "taken by " + queue.HandlerName);
            return FromHook(queue, new SmtpReply(250, "2.0.0", $"Ok: taken as {queueId}"));
        }
        if (await SignAsync(prefix, aborted) is { } signatures)
        {
            prefix = [.. Encoding.ASCII.GetBytes(signatures), .. prefix];
            size = prefix.Length + _body.Length;
        }

        var envelope = new SpoolEnvelope(queueId, tx.Kind, now, tx.ReversePath, tx.MailParameters, tx.Recipients.ToArray(),
            ClientLiteral(), HeloName, AuthenticatedUser);
        try
        {
            // Not the session's abort token: once the message is complete, losing the client must not
            // abandon a write that other sessions' group commit may share.
            if (_body.IsSpilled) await _body.CommitSpilledAsync(envelope, prefix, CancellationToken.None);
            else await _ctx.Spool.CommitAsync(envelope, _body.InMemory(prefix)!.Value, CancellationToken.None);
        }
        catch (SpoolWriteException ex)
        {
            LogSpoolFailed(ex, SessionId, queueId);
            return ex.IsDiskFull
                ? new SmtpReply(452, "4.3.1", "Insufficient system storage, try again later")
                : new SmtpReply(451, "4.3.0", "Local error in processing, try again later");
        }
        LogTransaction(tx, queueId, size, "queued");
        return new SmtpReply(250, "2.0.0", $"Ok: queued as {queueId}");
    }

    /// <summary>The refusal when the message could not be held: the server-wide budget was used up, or its spill file
    /// could not be written. The data was read to its end all the same, so the session goes on.</summary>
    private SmtpReply? DataRefusal()
    {
        if (_body.OverBudget)
        {
            LogDataBudgetExhausted(SessionId, _ctx.DataBudget.Limit);
            return new SmtpReply(451, "4.3.1", "Insufficient system storage: too much mail is arriving at once, try again later");
        }
        if (_body.WriteFailure is { } failure)
        {
            LogSpillFailed(failure, SessionId);
            return DurableIo.IsDiskFull(failure)
                ? new SmtpReply(452, "4.3.1", "Insufficient system storage, try again later")
                : new SmtpReply(451, "4.3.0", "Local error in processing, try again later");
        }
        return null;
    }

    private byte[] BuildTracePrefix(Transaction tx, string queueId, DateTimeOffset now, string? authenticationResults, bool quarantine)
    {
        var sb = new StringBuilder(ReceivedHeader.Build(this, HostName, queueId, tx.Utf8, tx.Recipients, now, _clientName));
        if (authenticationResults is not null)
            sb.Append(Authentication.AuthenticationResultsField.Name).Append(": ").Append(authenticationResults).Append("\r\n");
        if (quarantine)
            sb.Append(Authentication.QuarantineMark.Field("dmarc"));
        foreach (var (name, value) in tx.AddedHeaders)
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private bool OffersChunking => IsExtended && _ctx.Options.Limits.Data.Chunking;

    /// <summary>Decides what becomes of a BDAT chunk (RFC 3030): received into the message, or read and dropped with a
    /// refusal. Either way its octets are consumed, never read as commands.</summary>
    private async ValueTask<AfterLine> OnBdatAsync(BdatCommand bdat, CancellationToken aborted)
    {
        _chunkSize = bdat.ChunkSize;
        _chunkLast = bdat.Last;
        _chunkRefusal = null;
        var tx = _transaction;
        if (!OffersChunking)
            _chunkRefusal = new SmtpReply(502, "5.5.1", "BDAT not available (CHUNKING is not offered)");
        else if (tx is null)
            _chunkRefusal = new SmtpReply(503, "5.5.1", "Need MAIL command");
        else if (tx.Recipients.Count == 0)
            _chunkRefusal = tx.RejectedRecipients > 0 ? new SmtpReply(554, "5.5.1", "No valid recipients") : new SmtpReply(503, "5.5.1", "Need RCPT command");
        else if (tx.Chunks is null)
        {
            // The first chunk stands where DATA would: the data hooks decide on it.
            var outcome = await Hooks.RunAsync(new DataContext(this, tx), aborted);
            if (IsRefusal(outcome))
            {
                _chunkRefusal = FromHook(outcome, null);
                EndTransaction();
            }
            else
            {
                _body.Reset();
                tx.Chunks = new DataDecoder(_ctx.Options.Limits.MaxMessageSize, SmtpLimits.MaxTextLine,
                    tx.Binary ? DataDecoderMode.Binary : DataDecoderMode.Chunks);
                _connection.StartMessageClock();
            }
        }
        return _chunkRefusal is null ? AfterLine.ReceiveChunk : AfterLine.DiscardChunk;
    }

    /// <summary>Reads one BDAT chunk into the message; after the LAST one, finishes the message as the final dot does.</summary>
    private async Task ReceiveChunkAsync(CancellationToken aborted)
    {
        var tx = _transaction!;
        var decoder = tx.Chunks!;
        var remaining = _chunkSize;
        while (remaining > 0)
        {
            var result = await _connection.ReadAsync(ReadKind.Data);
            var take = Math.Min(remaining, result.Buffer.Length);
            decoder.Decode(result.Buffer.Slice(0, take), _body);
            _connection.Input.AdvanceTo(result.Buffer.GetPosition(take));
            remaining -= take;
            await _body.FlushAsync(final: false, aborted);
            if (result.IsCompleted && remaining > 0)
            {
                _closeReason = "client closed during BDAT";
                _closing = true;
                EndTransaction();
                return;
            }
        }
        if (!_chunkLast)
        {
            // A chunk that breaks a limit fails the transaction at once (RFC 3030 2: the client sends no more chunks).
            var refusal = decoder.SizeExceeded
                ? new SmtpReply(552, "5.3.4", $"Message size exceeds fixed limit of {_ctx.Options.Limits.MaxMessageSize} octets")
                : DataRefusal();
            if (refusal is not null)
            {
                EndTransaction();
                Reply(refusal);
                return;
            }
            Reply(new SmtpReply(250, "2.0.0", $"{_chunkSize} octets received"));
            return;
        }
        try
        {
            decoder.EndOfChunks();
            await _body.FlushAsync(final: true, aborted);
            var reply = await FinishMessageAsync(tx, decoder, aborted);
            if (reply.Code / 100 == 2) Interlocked.Increment(ref _messagesAccepted);
            Reply(reply);
        }
        finally
        {
            EndTransaction();
        }
    }

    private async ValueTask DiscardChunkAsync()
    {
        // Refused: still consume the announced chunk so its bytes are never read as commands.
        var remaining = _chunkSize;
        while (remaining > 0)
        {
            var result = await _connection.ReadAsync(ReadKind.Data);
            var take = Math.Min(remaining, result.Buffer.Length);
            _connection.Input.AdvanceTo(result.Buffer.GetPosition(take));
            remaining -= take;
            if (result.IsCompleted && remaining > 0) break;
        }
        Reply(_chunkRefusal ?? new SmtpReply(502, "5.5.1", "BDAT not available (CHUNKING is not offered)"));
    }

    private async ValueTask OnRsetAsync(CancellationToken aborted)
    {
        await Hooks.RunAsync(new RsetContext(this), aborted);
        // RSET always succeeds (RFC 5321 4.1.1.5): a hook can observe it but not refuse it.
        EndTransaction();
        Reply(Ok);
    }

    private async ValueTask OnQuitAsync(CancellationToken aborted)
    {
        await Hooks.RunAsync(new QuitContext(this), aborted);
        Reply(new SmtpReply(221, "2.0.0", $"{HostName} closing connection"), countError: false);
        _closeReason = "quit";
        _closing = true;
    }

    /// <summary>For commands whose hooks may answer in full (NOOP, VRFY, EXPN, HELP, TURN, unknown).</summary>
    private async ValueTask SimpleAsync<TContext>(TContext context, SmtpReply defaultReply, CancellationToken aborted, SmtpReply? acceptDefault = null)
        where TContext : SessionContext
    {
        var outcome = await Hooks.RunAsync(context, aborted);
        Reply(outcome.IsContinue ? defaultReply : FromHook(outcome, acceptDefault ?? (defaultReply.Code / 100 == 2 ? defaultReply : Ok)));
    }

    private static bool IsRefusal(HookOutcome outcome) =>
        outcome.Result.Decision is HookDecision.Reject or HookDecision.Defer or HookDecision.Disconnect;

    /// <summary>Turns a hook's decision into the reply; <paramref name="acceptDefault"/> is the command's usual success reply.</summary>
    private SmtpReply FromHook(HookOutcome outcome, SmtpReply? acceptDefault)
    {
        var r = outcome.Result;
        if (r.Decision == HookDecision.Disconnect)
        {
            _closing = true;
            _closeReason = "disconnected by " + outcome.HandlerName;
        }
        if (r.Decision is HookDecision.Accept or HookDecision.Continue)
        {
            var baseline = acceptDefault ?? Ok;
            if (r.Text is null && r.Code == 0) return baseline;
            var code = r.Code == 0 ? baseline.Code : r.Code;
            return new SmtpReply(code, r.EnhancedCode ?? baseline.EnhancedCode, SplitLines(r.Text ?? string.Join(' ', baseline.Lines)));
        }
        var enhanced = r.EnhancedCode ?? (r.Code / 100 == 5 ? "5.7.1" : "4.7.1");
        if (EnhancedStatusCode.TryParse(enhanced, out var parsed) && parsed.Class != r.Code / 100) enhanced = $"{r.Code / 100}.0.0";
        return new SmtpReply(r.Code, enhanced, SplitLines(r.Text ?? (r.Code / 100 == 5 ? "Rejected by policy" : "Try again later")));
    }

    private static string[] SplitLines(string text) => text.Replace("\r\n", "\n").Split('\n');

    /// <summary>The one place replies are written; also keeps the error budget (Postfix's hard error limit).</summary>
    private void Reply(SmtpReply reply, bool countError = true)
    {
        reply.WriteTo(_connection.Output);
        if (countError && reply.Code >= 400 && !_closing && ++_errors >= _ctx.Admission.MaxErrors)
        {
            new SmtpReply(421, "4.7.0", $"{HostName} Error: too many errors").WriteTo(_connection.Output);
            _closing = true;
            _closeReason = "too many errors";
        }
    }

    private async ValueTask TryFinalReplyAsync(SmtpReply reply)
    {
        try
        {
            reply.WriteTo(_connection.Output);
            await FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SessionTimeoutException or InvalidOperationException)
        {
            // The client is gone or stuck; nothing more to tell it.
        }
    }

    private void EndTransaction()
    {
        // A transaction ended between BDAT chunks (RSET, EHLO, a refused chunk) leaves nothing held.
        if (_transaction?.Chunks is not null)
        {
            _body.Reset();
            _connection.StopMessageClock();
        }
        _transaction = null;
    }

    private bool OffersStartTls => _tlsMode == ListenerTlsMode.StartTls && Tls is null;

    /// <summary>Runs the server handshake over the connection; false means it failed and the connection must close
    /// (no reply can be sent: the client is no longer speaking clear text).</summary>
    private async ValueTask<bool> StartTlsAsync(CancellationToken aborted)
    {
        if (await _connection.UpgradeToTlsAsync(aborted) is { } failure)
        {
            LogTlsFailed(SessionId, failure);
            _closeReason = "TLS handshake failed";
            _closing = true;
            return false;
        }
        // RFC 3207 4.2: forget everything learnt from the client in clear text; it must EHLO again.
        HeloName = null;
        IsExtended = false;
        _authenticatedUser = null;
        _skippingLongLine = false;
        EndTransaction();
        LogTlsEstablished(SessionId, Tls!.Protocol, Tls.Cipher);
        return true;
    }

    private string ClientLiteral() => RemoteEndPoint.Address.ToString();

    private ValueTask FlushAsync() => _connection.FlushAsync();

    public ValueTask DisposeAsync()
    {
        _body.Dispose();
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = LogEvents.Receiver.SessionConnected, Level = LogLevel.Information, Message = "session={SessionId} connect from {Remote} on {Listener}")]
    private partial void LogConnected(string sessionId, IPEndPoint remote, string listener);

    [LoggerMessage(EventId = LogEvents.Receiver.SessionDisconnected, Level = LogLevel.Information, Message = "session={SessionId} disconnect reason={Reason}")]
    private partial void LogDisconnected(string sessionId, string reason);

    /// <summary>One line per transaction: who sent what to whom, how big, over what, and what became of it.</summary>
    private void LogTransaction(Transaction tx, string queueId, long size, string result)
    {
        if (!_logger.IsEnabled(LogLevel.Information)) return;
        LogTransactionLine(SessionId, queueId, tx.ReversePath.ToPathString(), tx.Recipients.Count,
            string.Join(',', tx.Recipients.Select(r => r.Address.ToPathString())), size,
            Tls is null ? "none" : Tls.Protocol + "/" + Tls.Cipher, _authenticatedUser ?? "-", result);
    }

    [LoggerMessage(EventId = LogEvents.Receiver.Transaction, Level = LogLevel.Information, Message = "session={SessionId} id={QueueId} from={Sender} nrcpt={Count} to={Recipients} size={Size} tls={Tls} user={User} result={Result}")]
    private partial void LogTransactionLine(string sessionId, string queueId, string sender, int count, string recipients, long size, string tls, string user, string result);

    [LoggerMessage(EventId = LogEvents.Receiver.SpoolFailed, Level = LogLevel.Error, Message = "session={SessionId} id={QueueId} spool write failed")]
    private partial void LogSpoolFailed(Exception exception, string sessionId, string queueId);

    [LoggerMessage(EventId = LogEvents.Receiver.DataBudgetExhausted, Level = LogLevel.Warning, Message = "session={SessionId} message refused with 451 4.3.1: the server-wide budget of {Budget} octets of message data in flight is used up (Limits:Data:InFlightBudget)")]
    private partial void LogDataBudgetExhausted(string sessionId, long budget);

    [LoggerMessage(EventId = LogEvents.Receiver.SpillFailed, Level = LogLevel.Error, Message = "session={SessionId} message body could not be written to the queue directory")]
    private partial void LogSpillFailed(Exception exception, string sessionId);

    [LoggerMessage(EventId = LogEvents.Receiver.SessionFailed, Level = LogLevel.Error, Message = "session={SessionId} failed")]
    private partial void LogSessionFailed(Exception exception, string sessionId);

    [LoggerMessage(EventId = LogEvents.Receiver.TlsEstablished, Level = LogLevel.Information, Message = "session={SessionId} tls={Protocol} cipher={Cipher}")]
    private partial void LogTlsEstablished(string sessionId, string protocol, string cipher);

    [LoggerMessage(EventId = LogEvents.Receiver.TlsFailed, Level = LogLevel.Warning, Message = "session={SessionId} TLS handshake failed: {Reason}")]
    private partial void LogTlsFailed(string sessionId, string reason);

    [LoggerMessage(EventId = LogEvents.Receiver.TooSlow, Level = LogLevel.Information, Message = "session={SessionId} closed {Remote}: sending slower than {Rate} bytes per second")]
    private partial void LogTooSlow(string sessionId, IPEndPoint remote, int rate);

}
