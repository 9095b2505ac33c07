// The message after DATA (or the last BDAT chunk): read, checked, authenticated, hooked, spooled, answered.
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Buffers;
using Mta.Engine.Spool;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
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
            MessageAnswered(reply, _body.Length);
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
        // Milters after the hooks and the built-in checks, as Postfix runs them after its smtpd restrictions.
        if (await MilterMessageAsync(tx, aborted) is { } milterRefusal) return milterRefusal;
        if (tx.DiscardedBy is { } discardedBy)
        {
            var discardedId = tx.QueueId ?? QueueIds.Next();
            LogMilterDiscarded(SessionId, discardedId, discardedBy);
            LogTransaction(tx, discardedId, _body.Length, "discarded by milter " + discardedBy);
            return new SmtpReply(250, "2.0.0", $"Ok: queued as {discardedId}");
        }
        if (tx.Recipients.Count == 0) return new SmtpReply(554, "5.5.1", "No valid recipients");

        var (reversePath, recipients, rewriteRefusal) = RewriteEnvelope(tx);
        if (rewriteRefusal is not null) return rewriteRefusal;
        RewriteHeaderAddresses();

        var queueId = tx.QueueId ?? QueueIds.Next();
        _queueId = queueId;
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

        var envelope = new SpoolEnvelope(queueId, tx.Kind, now, reversePath, tx.MailParameters, recipients,
            ClientLiteral(), HeloName, AuthenticatedUser, Quarantine: tx.Quarantine is { } held ? $"milter {held.Milter}: {held.Reason}" : null);
        QueueingAs(queueId);
        try
        {
            // Not the session's abort token: once the message is complete, losing the client must not
            // abandon a write that other sessions' group commit may share.
            if (_body.IsSpilled) await _body.CommitSpilledAsync(envelope, prefix, CancellationToken.None);
            else await _ctx.Spool.CommitAsync(envelope, _body.InMemory(prefix)!.Value, CancellationToken.None);
        }
        catch (SpoolWriteException ex)
        {
            NotQueued(queueId);
            LogSpoolFailed(ex, SessionId, queueId);
            return ex.IsDiskFull
                ? new SmtpReply(452, "4.3.1", "Insufficient system storage, try again later")
                : new SmtpReply(451, "4.3.0", "Local error in processing, try again later");
        }
        if (tx.Quarantine is { } quarantined) LogMilterQuarantined(SessionId, queueId, quarantined.Milter, quarantined.Reason);
        LogTransaction(tx, queueId, size, tx.Quarantine is null ? "queued" : "queued on hold");
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
        var sb = new StringBuilder(ReceivedHeader.Build(this, HostName, queueId, tx.Utf8, tx.Recipients, now, _clientName,
            _ctx.Options.Auth.ReceivedHeaderShowsUser));
        if (authenticationResults is not null)
            sb.Append(Authentication.AuthenticationResultsField.Name).Append(": ").Append(authenticationResults).Append("\r\n");
        if (quarantine)
            sb.Append(Authentication.QuarantineMark.Field("dmarc"));
        foreach (var (name, value) in tx.AddedHeaders)
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>One line per transaction: who sent what to whom, how big, over what, and what became of it.</summary>
    private void LogTransaction(Transaction tx, string queueId, long size, string result)
    {
        if (!_logger.IsEnabled(LogLevel.Information)) return;
        LogTransactionLine(SessionId, queueId, $"{_clientName ?? "unknown"}[{ClientLiteral()}]", tx.ReversePath.ToPathString(), tx.Recipients.Count,
            string.Join(',', tx.Recipients.Select(r => r.Address.ToPathString())), size,
            Tls is null ? "none" : Tls.Protocol + "/" + Tls.Cipher, _authenticatedUser ?? "-", result);
    }

    [LoggerMessage(EventId = LogEvents.Receiver.Transaction, Level = LogLevel.Information, Message = "session={SessionId} id={QueueId} client={Client} from={Sender} nrcpt={Count} to={Recipients} size={Size} tls={Tls} user={User} result={Result}")]
    private partial void LogTransactionLine(string sessionId, string queueId, string client, string sender, int count, string recipients, long size, string tls, string user, string result);

    [LoggerMessage(EventId = LogEvents.Receiver.SpoolFailed, Level = LogLevel.Error, Message = "session={SessionId} id={QueueId} spool write failed")]
    private partial void LogSpoolFailed(Exception exception, string sessionId, string queueId);

    [LoggerMessage(EventId = LogEvents.Receiver.DataBudgetExhausted, Level = LogLevel.Warning, Message = "session={SessionId} message refused with 451 4.3.1: the server-wide budget of {Budget} octets of message data in flight is used up (Limits:Data:InFlightBudget)")]
    private partial void LogDataBudgetExhausted(string sessionId, long budget);

    [LoggerMessage(EventId = LogEvents.Receiver.SpillFailed, Level = LogLevel.Error, Message = "session={SessionId} message body could not be written to the queue directory")]
    private partial void LogSpillFailed(Exception exception, string sessionId);
}
