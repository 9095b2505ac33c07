// One SMTP conversation: reads command lines and DATA from its connection, checks each command against the command table, runs hook -> handler, writes replies.
using System.Buffers;
using System.Net;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Receiver.Commands;
using Mta.Protocol;

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
        IReadOnlyCollection<string>? acceptDomains = null, string? authenticatedUser = null)
    {
        _role = role;
        _authenticatedUser = authenticatedUser;
        _allowTurn = allowTurn;
        // The domains a TURN this side asked for delivers here: their recipients are accepted although they are not local.
        if (acceptDomains is { Count: > 0 })
            _acceptDomains = new HashSet<string>(acceptDomains, Domain.NameComparer);
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
        StartSpan();
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
            var milterGreeting = await StartMiltersAsync(aborted);
            if (milterGreeting is not null && _closing)
            {
                Reply(milterGreeting, countError: false);
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
            Reply(milterGreeting ?? new SmtpReply(220, null, $"{HostName} ESMTP Mta"), countError: false);
            await FlushAsync();
            await CommandLoopAsync(aborted);
        }
        catch (SessionTimeoutException ex)
        {
            _closeReason = ex.Reason == TimeoutReason.TooSlow ? "too slow" : "timeout";
            _spanFailure = _closeReason;
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
            _spanFailure = "internal error: " + ex.Message;
            await TryFinalReplyAsync(new SmtpReply(421, "4.3.0", $"{HostName} Error: internal error, closing connection"));
        }
        finally
        {
            LogDisconnected(SessionId, _closeReason);
            try { await StopMiltersAsync(); }
            catch (Exception ex) { LogSessionFailed(ex, SessionId); }
            try { await Hooks.NotifyAsync(new DisconnectContext(this, _closeReason), CancellationToken.None); }
            catch (Exception ex) { LogSessionFailed(ex, SessionId); }
            EndSpan();
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
                    AnsweringUnreadable();
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

    /// <summary>Parses and runs one command line, and says what the bytes after it are.</summary>
    private async ValueTask<AfterLine> ExecuteLineAsync(ReadOnlySequence<byte> line, CancellationToken aborted)
    {
        if (++_commands > _ctx.Options.Limits.MaxCommandsPerSession)
        {
            Answering(line);
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
            Answering(line);
            Reply(parsed.Error!);
            return AfterLine.ReadCommand;
        }

        var command = parsed.Command!;
        Answering(command);
        // Look up, check the table's rules (the one place sequencing is decided), then run the handler.
        if (CommandTable.For(command.Verb) is not { } row)
        {
            Reply(new SmtpReply(502, "5.5.1", "Command not implemented"));
            return AfterLine.ReadCommand;
        }
        if (CommandTable.Check(row, Facts) is { } refusal)
        {
            row.Refused?.Invoke(this, refusal);
            if (row.RefusalConsumesPayload) return RefuseChunk((BdatCommand)command, refusal);
            Reply(refusal, countError: row.CountsErrors);
            return AfterLine.ReadCommand;
        }
        return await row.Handler(this, command, aborted);
    }

    /// <summary>The session as the command table sees it, taken before each command.</summary>
    private SessionFacts Facts
    {
        get
        {
            var state = SessionState.None;
            if (HeloName is null) state |= SessionState.NotGreeted;
            if (!IsExtended) state |= SessionState.NotExtended;
            if (_authenticatedUser is not null) state |= SessionState.Authenticated;
            if (_transaction is not { } tx)
            {
                state |= SessionState.NoTransaction;
            }
            else
            {
                state |= SessionState.InTransaction;
                if (tx.Chunks is not null) state |= SessionState.Chunking;
                if (tx.Binary) state |= SessionState.BinaryBody;
                if (tx.Recipients.Count == 0)
                    state |= tx.RejectedRecipients > 0 ? SessionState.NoValidRecipients | SessionState.NoRecipients : SessionState.NoRecipients;
            }
            var features = Feature.None;
            if (_tlsMode != ListenerTlsMode.None) features |= Feature.Tls;
            if (OffersChunking) features |= Feature.Chunking;
            if (OffersTurn) features |= Feature.Turn;
            if (OffersEtrn) features |= Feature.Etrn;
            if (_xclientAllowed) features |= Feature.XClient;
            return new SessionFacts(state, features, Tls is not null, _allowPlaintextAuth, _role == ListenerRole.Submission);
        }
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

    /// <summary>The one place replies are written; also keeps the error budget (Postfix's hard error limit) and logs
    /// every refusal (4xx/5xx), so no handler can forget to.</summary>
    private void Reply(SmtpReply reply, bool countError = true)
    {
        reply.WriteTo(_connection.Output);
        if (reply.Code >= 400) LogRefusal(reply);
        if (countError && reply.Code >= 400 && !_closing && ++_errors >= _ctx.Admission.MaxErrors)
        {
            var tooManyErrors = new SmtpReply(421, "4.7.0", $"{HostName} Error: too many errors");
            tooManyErrors.WriteTo(_connection.Output);
            LogRefusal(tooManyErrors);
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
        // Postfix aborts the milters' transaction whenever its own ends, a completed message included.
        _milters?.Abort();
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

    [LoggerMessage(EventId = LogEvents.Receiver.SessionFailed, Level = LogLevel.Error, Message = "session={SessionId} failed")]
    private partial void LogSessionFailed(Exception exception, string sessionId);

    [LoggerMessage(EventId = LogEvents.Receiver.TlsEstablished, Level = LogLevel.Information, Message = "session={SessionId} tls={Protocol} cipher={Cipher}")]
    private partial void LogTlsEstablished(string sessionId, string protocol, string cipher);

    [LoggerMessage(EventId = LogEvents.Receiver.TlsFailed, Level = LogLevel.Warning, Message = "session={SessionId} TLS handshake failed: {Reason}")]
    private partial void LogTlsFailed(string sessionId, string reason);

    [LoggerMessage(EventId = LogEvents.Receiver.TooSlow, Level = LogLevel.Information, Message = "session={SessionId} closed {Remote}: sending slower than {Rate} bytes per second")]
    private partial void LogTooSlow(string sessionId, IPEndPoint remote, int rate);

}
