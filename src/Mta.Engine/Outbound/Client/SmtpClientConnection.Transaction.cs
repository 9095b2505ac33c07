// One mail transaction on an open connection: local checks, MAIL/RCPT/DATA or BDAT (pipelined when offered), the message, RSET.
using System.Buffers;
using System.Net.Sockets;
using Mta.Abstractions;
using Mta.Protocol;
using Mta.Protocol.Client;

namespace Mta.Engine.Outbound.Client;

public sealed partial class SmtpClientConnection
{
    // Large enough that a typical message goes in a few writes, small enough for the array pool's shared buckets.
    private const int DataChunkSize = 64 * 1024;

    /// <summary>
    /// Runs one transaction: MAIL FROM, every RCPT TO, then the message: with BDAT chunks (RFC 3030) when the server
    /// offers CHUNKING and <see cref="ConnectionSettings.UseChunking"/> allows it, else DATA and the dot-stuffed message.
    /// With PIPELINING (RFC 2920) MAIL, RCPT and DATA (or the first BDAT chunk) go in one write, and further chunks go
    /// without waiting for each reply. Refusals are results, not exceptions: a 4xx defers, a 5xx fails, each
    /// recipient on its own reply, then on the DATA (or a refused chunk's) and final replies. A message the server
    /// cannot take at all (over its SIZE limit, 8BITMIME, SMTPUTF8 or BINARYMIME with CHUNKING not offered) fails every
    /// recipient without a command being sent. A 421 defers everything still open and leaves the connection unusable.
    /// When the transaction did not end with a final reply, RSET is sent so the connection can be reused.
    /// </summary>
    /// <param name="envelope">Reverse-path, recipients and MAIL parameters.</param>
    /// <param name="message">The message; opened before anything is sent, so a spool error costs nothing on the wire.</param>
    /// <param name="ct">Cancels the transaction; the connection is then unusable.</param>
    /// <returns>One result per recipient, in envelope order.</returns>
    /// <exception cref="SmtpSessionException">The connection failed (dropped, timed out, malformed reply); its
    /// <see cref="SmtpSessionException.TransactionStarted"/> says whether MAIL FROM had gone out.</exception>
    /// <exception cref="InvalidOperationException">The connection is not <see cref="IsUsable"/>.</exception>
    /// <remarks>An exception from reading <paramref name="message"/> propagates unchanged, after the connection has been
    /// abandoned without the final dot or BDAT LAST (so no truncated message is delivered). With BDAT the first chunk is
    /// read before MAIL, so a message that cannot be read at all leaves the connection usable.</remarks>
    public async Task<TransactionResult> SendAsync(OutboundEnvelope envelope, IMessageContent message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_state != State.Open) throw new InvalidOperationException($"The connection to {_host} is not usable.");
        if (envelope.Recipients.Count == 0) throw new ArgumentException("The envelope has no recipients.", nameof(envelope));

        if (RefuseLocally(envelope) is { } refusal)
        {
            LogRefusedLocally(_host, refusal.Detail);
            return new TransactionResult(Fill(envelope.Recipients.Count,
                new RecipientResult(RecipientStatus.Failed, null, refusal.Detail) { EnhancedStatus = refusal.Status }), false);
        }
        EnsureInStep();

        var content = message.OpenRead();
        await using (content.ConfigureAwait(false))
        {
            return await TransactAsync(envelope, content, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Sends RSET, as before reusing the connection for another transaction.</summary>
    /// <returns>True on 250; false (and the connection unusable) when RSET was refused, timed out or the connection is gone.</returns>
    public async Task<bool> ResetAsync(CancellationToken ct)
    {
        if (!IsUsable) return false;
        try
        {
            EnsureInStep();
            return await ResetCoreAsync(ct).ConfigureAwait(false);
        }
        catch (SmtpSessionException e)
        {
            LogResetFailed(_host, e.Message);
            return false;
        }
    }

    private async Task<TransactionResult> TransactAsync(OutboundEnvelope envelope, Stream content, CancellationToken ct)
    {
        if (!UsesChunking(Capabilities)) return await TransactAsync(envelope, content, null, ct).ConfigureAwait(false);
        using var chunks = new MessageChunkReader(content, BdatChunkSize);
        // The first chunk is read before anything is sent, so a spool error costs nothing on the wire, as with DATA.
        await chunks.ReadNextAsync(ct).ConfigureAwait(false);
        return await TransactAsync(envelope, content, chunks, ct).ConfigureAwait(false);
    }

    /// <param name="chunks">Null to send with DATA; else the message as BDAT chunks, the first one read already.</param>
    private async Task<TransactionResult> TransactAsync(OutboundEnvelope envelope, Stream content, MessageChunkReader? chunks, CancellationToken ct)
    {
        var caps = Capabilities;
        var timeouts = _settings.Timeouts;
        var recipients = envelope.Recipients;
        // Null while undecided; accepted recipients stay null until the DATA phase decides them.
        var results = new RecipientResult?[recipients.Count];
        var accepted = new List<int>(recipients.Count);

        TransactionCount++;
        _transactionStarted = true;
        Append(ClientCommands.MailFrom(envelope.ReversePath, caps, envelope.Size, envelope.Body, envelope.RequiresSmtpUtf8,
            envelope.Ret, envelope.EnvelopeId));

        SmtpReply mailReply;
        bool mailAccepted;
        if (caps.Pipelining)
        {
            // RFC 2920 3.1: MAIL, every RCPT and DATA in one group; the replies come back in order. RFC 3030 4.2 lets
            // the first BDAT chunk take DATA's place: at most one chunk is sent before the recipients are known.
            foreach (var recipient in recipients)
                Append(ClientCommands.RcptTo(recipient.Address, caps, recipient.Notify, recipient.OriginalRecipient));
            if (chunks is null)
            {
                Append(ClientCommands.Data);
                await FlushAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
            }
            else
            {
                AppendChunk(chunks);
                await FlushAsync(SessionStage.Mail, Max(timeouts.Mail, timeouts.DataBlock), ct).ConfigureAwait(false);
            }

            mailReply = await ReadReplyAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
            if (mailReply.Code == 421) return Closing(results, mailReply, "MAIL FROM", caps);
            mailAccepted = IsSuccess(mailReply);
            for (var i = 0; i < recipients.Count; i++)
            {
                var reply = await ReadReplyAsync(SessionStage.Rcpt, timeouts.Rcpt, ct).ConfigureAwait(false);
                if (reply.Code == 421) return Closing(results, reply, "RCPT TO", caps);
                // After a refused MAIL the RCPT replies are only "503 need MAIL": MAIL's reply decides.
                if (mailAccepted) DecideRecipient(results, accepted, i, reply);
            }
            if (!mailAccepted) FillOpen(results, mailReply, "MAIL FROM");
            if (chunks is not null) return await SendChunksAsync(results, accepted, mailAccepted, chunks, firstSent: true, caps, ct).ConfigureAwait(false);
        }
        else
        {
            await FlushAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
            mailReply = await ReadReplyAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
            if (mailReply.Code == 421) return Closing(results, mailReply, "MAIL FROM", caps);
            if (!IsSuccess(mailReply))
            {
                // No transaction was opened, so there is nothing to reset.
                _transactionStarted = false;
                FillOpen(results, mailReply, "MAIL FROM");
                return Finish(results, caps, mailReply);
            }
            mailAccepted = true;
            for (var i = 0; i < recipients.Count; i++)
            {
                var recipient = recipients[i];
                Append(ClientCommands.RcptTo(recipient.Address, caps, recipient.Notify, recipient.OriginalRecipient));
                await FlushAsync(SessionStage.Rcpt, timeouts.Rcpt, ct).ConfigureAwait(false);
                var reply = await ReadReplyAsync(SessionStage.Rcpt, timeouts.Rcpt, ct).ConfigureAwait(false);
                if (reply.Code == 421) return Closing(results, reply, "RCPT TO", caps);
                DecideRecipient(results, accepted, i, reply);
            }
            if (accepted.Count == 0)
            {
                await ResetQuietlyAsync(ct).ConfigureAwait(false);
                return Finish(results, caps, null);
            }
            if (chunks is not null) return await SendChunksAsync(results, accepted, mailAccepted, chunks, firstSent: false, caps, ct).ConfigureAwait(false);
            Append(ClientCommands.Data);
            await FlushAsync(SessionStage.Data, timeouts.DataInitiation, ct).ConfigureAwait(false);
        }

        var dataReply = await ReadReplyAsync(SessionStage.Data, timeouts.DataInitiation, ct).ConfigureAwait(false);
        if (dataReply.Code == 421) return Closing(results, dataReply, "DATA", caps);
        if (dataReply.Code != 354)
        {
            // With pipelining and no recipient accepted this is the expected 503/554: the recipients are decided already.
            FillOpen(results, dataReply, "DATA");
            if (mailAccepted) await ResetQuietlyAsync(ct).ConfigureAwait(false);
            return Finish(results, caps, dataReply);
        }
        if (accepted.Count == 0)
        {
            // A server that takes DATA with no recipient gets an empty message (RFC 2920 3.1), then RSET.
            Append(ClientCommands.EndOfData);
            await FlushAsync(SessionStage.Data, timeouts.DataBlock, ct).ConfigureAwait(false);
            var ignored = await ReadReplyAsync(SessionStage.Data, timeouts.DataTermination, ct).ConfigureAwait(false);
            if (ignored.Code == 421) return Closing(results, ignored, "end of DATA", caps);
            await ResetQuietlyAsync(ct).ConfigureAwait(false);
            return Finish(results, caps, ignored);
        }

        await SendContentAsync(content, ct).ConfigureAwait(false);
        var final = await ReadReplyAsync(SessionStage.Data, timeouts.DataTermination, ct).ConfigureAwait(false);
        return await DecideAcceptedAsync(results, accepted, final, "end of DATA", caps, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Decides the accepted recipients after the final dot or BDAT LAST, whose first reply is <paramref name="final"/>.
    /// SMTP's one reply decides them all; LMTP's server sends one reply per accepted recipient, in RCPT order (RFC 2033
    /// 4.2), each deciding its own. A 421 defers every recipient still open.
    /// </summary>
    private async Task<TransactionResult> DecideAcceptedAsync(RecipientResult?[] results, List<int> accepted, SmtpReply final, string command,
        EhloCapabilities caps, CancellationToken ct)
    {
        var reply = final;
        for (var n = 0; ; n++)
        {
            if (reply.Code == 421)
            {
                _transactionStarted = false;
                return Closing(results, reply, command, caps);
            }
            var result = IsSuccess(reply) ? new RecipientResult(RecipientStatus.Delivered, reply, $"{_host} said: {Describe(reply)}")
                : Negative(reply, command);
            if (!_settings.Lmtp)
            {
                foreach (var i in accepted) results[i] = result;
                break;
            }
            results[accepted[n]] = result;
            if (n + 1 == accepted.Count) break;
            reply = await ReadReplyAsync(SessionStage.Data, _settings.Timeouts.DataTermination, ct).ConfigureAwait(false);
        }
        _transactionStarted = false;
        return Finish(results, caps, reply);
    }

    /// <summary>Streams the message dot-stuffed in <see cref="DataChunkSize"/> pieces, then CRLF (if missing) and the dot.</summary>
    private async Task SendContentAsync(Stream content, CancellationToken ct)
    {
        var timeout = _settings.Timeouts.DataBlock;
        var encoder = new DotStuffingEncoder();
        var buffer = ArrayPool<byte>.Shared.Rent(DataChunkSize);
        try
        {
            while (true)
            {
                int read;
                try
                {
                    read = await content.ReadAsync(buffer.AsMemory(0, DataChunkSize), ct).ConfigureAwait(false);
                }
                catch
                {
                    // The server is inside DATA: only closing without the dot keeps a truncated message from delivery.
                    _state = State.Broken;
                    throw;
                }
                if (read == 0) break;
                encoder.Encode(buffer.AsSpan(0, read), _writer);
                await FlushAsync(SessionStage.Data, timeout, ct).ConfigureAwait(false);
            }
            encoder.Complete(_writer);
            await FlushAsync(SessionStage.Data, timeout, ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<bool> ResetCoreAsync(CancellationToken ct)
    {
        var timeout = _settings.Timeouts.Command;
        Append(ClientCommands.Rset);
        await FlushAsync(SessionStage.Mail, timeout, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(SessionStage.Mail, timeout, ct).ConfigureAwait(false);
        if (IsSuccess(reply))
        {
            _transactionStarted = false;
            return true;
        }
        _state = reply.Code == 421 ? State.Broken : State.Unusable;
        LogResetFailed(_host, Describe(reply));
        return false;
    }

    // The recipients' fate is known before RSET, so a failing RSET only costs the connection.
    private async Task ResetQuietlyAsync(CancellationToken ct)
    {
        try
        {
            await ResetCoreAsync(ct).ConfigureAwait(false);
        }
        catch (SmtpSessionException e)
        {
            LogResetFailed(_host, e.Message);
        }
    }

    /// <summary>
    /// Before a new transaction: bytes the server sent unasked mean the replies are out of step, and a peer that
    /// already closed (a cached connection it timed out) is found here rather than after MAIL went out.
    /// </summary>
    private void EnsureInStep()
    {
        if (_reader.TryRead(out var pending))
        {
            var unsolicited = !pending.Buffer.IsEmpty;
            var closed = pending.IsCompleted;
            _reader.AdvanceTo(pending.Buffer.Start);
            if (unsolicited)
            {
                _state = State.Broken;
                throw new SmtpSessionException($"protocol error: {_host} sent data nobody asked for", SessionStage.Mail);
            }
            if (closed) throw Lost(SessionStage.Mail, null);
        }
        bool peerClosed;
        try
        {
            // Readable with nothing to read is the peer's FIN (or RST). Readable with bytes waiting is not judged: under
            // TLS those may be a session ticket the stream has not consumed yet. Over a handed-in stream (TURN) there is
            // no socket to ask; a dead peer then shows at MAIL, before anything was sent that could be delivered twice.
            peerClosed = _socket is not null && _socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw Lost(SessionStage.Mail, e);
        }
        if (peerClosed) throw Lost(SessionStage.Mail, null);
    }

    /// <summary>The checks a server's EHLO lets us make before sending anything: nothing on the wire can fix these.</summary>
    private (string Status, string Detail)? RefuseLocally(OutboundEnvelope envelope)
    {
        var caps = Capabilities;
        if (caps.Size is { } limit && envelope.Size > limit)
            return ("5.3.4", $"5.3.4 message size {envelope.Size} exceeds the fixed limit {limit} of {_host}");
        if (envelope.Body == BodyType.EightBitMime && !caps.EightBitMime)
            return ("5.6.3", $"5.6.3 message requires 8BITMIME, which {_host} does not offer");
        // RFC 3030 3: a binary body goes with BDAT only, never DATA; converting it to 7bit is not required of a relay.
        if (envelope.Body == BodyType.BinaryMime)
        {
            if (!caps.BinaryMime || !caps.Chunking)
            {
                var missing = caps.BinaryMime ? "CHUNKING" : caps.Chunking ? "BINARYMIME" : "BINARYMIME and CHUNKING";
                return ("5.6.3", $"5.6.3 message requires BINARYMIME (binary body, RFC 3030), but {_host} does not offer {missing}");
            }
            if (!_settings.UseChunking)
                return ("5.6.3", $"5.6.3 message requires BINARYMIME, which needs BDAT, and BDAT is turned off for {_host} (Relay:UseChunking)");
        }
        if (envelope.RequiresSmtpUtf8 && !caps.SmtpUtf8)
            return ("5.6.7", $"5.6.7 message requires SMTPUTF8, which {_host} does not offer");
        return null;
    }

    private void DecideRecipient(RecipientResult?[] results, List<int> accepted, int index, SmtpReply reply)
    {
        if (IsSuccess(reply)) accepted.Add(index);
        else results[index] = Negative(reply, "RCPT TO");
    }

    /// <summary>Decides every recipient still open (undecided or accepted) by <paramref name="reply"/>.</summary>
    private void FillOpen(RecipientResult?[] results, SmtpReply reply, string command)
    {
        var result = Negative(reply, command);
        for (var i = 0; i < results.Length; i++) results[i] ??= result;
    }

    /// <summary>421: the server is going away. Everything still open is deferred; the connection is done.</summary>
    private TransactionResult Closing(RecipientResult?[] results, SmtpReply reply, string command, EhloCapabilities caps)
    {
        _state = State.Broken;
        FillOpen(results, reply, command);
        return Finish(results, caps, reply);
    }

    private RecipientResult Negative(SmtpReply reply, string command)
    {
        // Only 5xx is permanent; an unexpected 2xx/3xx in a negative place is no reason to bounce.
        var status = reply.IsPermanent ? RecipientStatus.Failed : RecipientStatus.Deferred;
        return new RecipientResult(status, reply, $"host {_host} said: {Describe(reply)} (in reply to {command} command)");
    }

    private TransactionResult Finish(RecipientResult?[] results, EhloCapabilities caps, SmtpReply? last)
    {
        var done = new RecipientResult[results.Length];
        var delivered = 0;
        for (var i = 0; i < results.Length; i++)
        {
            // Every path decides every recipient; this fallback only guards against a future path that forgets one.
            done[i] = results[i] ?? new RecipientResult(RecipientStatus.Deferred, null, $"4.3.0 no result from {_host}") { EnhancedStatus = "4.3.0" };
            if (done[i].Status == RecipientStatus.Delivered) delivered++;
        }
        LogTransaction(_host, delivered, results.Length, last is null ? "-" : Describe(last));
        return new TransactionResult(done, caps.Dsn);
    }

    private static RecipientResult[] Fill(int count, RecipientResult result)
    {
        var results = new RecipientResult[count];
        Array.Fill(results, result);
        return results;
    }

    private static bool IsSuccess(SmtpReply reply) => reply.Code is >= 200 and < 300;
}
