// BDAT (RFC 3030 CHUNKING, BINARYMIME): chunks into the message, refused chunks read and dropped.
using Mta.Abstractions;
using Mta.Engine.Receiver.Commands;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>Decides what becomes of a BDAT chunk (RFC 3030): received into the message, or read and dropped with a
    /// refusal. Either way its octets are consumed, never read as commands.</summary>
    internal async ValueTask<AfterLine> OnBdatAsync(BdatCommand bdat, CancellationToken aborted)
    {
        // CHUNKING offered, a transaction with recipients: the table checked. What is left is the data hooks' say.
        _chunkSize = bdat.ChunkSize;
        _chunkLast = bdat.Last;
        _chunkRefusal = null;
        var tx = _transaction!;
        if (tx.Chunks is null)
        {
            // The first chunk stands where DATA would: the data hooks decide on it.
            var outcome = await Hooks.RunAsync(new DataContext(this, tx), aborted);
            if (IsRefusal(outcome))
            {
                _chunkRefusal = FromHook(outcome, null);
                EndTransaction();
            }
            else if (await MilterDataRefusalAsync(tx, aborted) is { } milterRefusal)
            {
                _chunkRefusal = milterRefusal;
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

    /// <summary>A chunk the command table refused: its octets are read and dropped, then the refusal is sent.</summary>
    private AfterLine RefuseChunk(BdatCommand bdat, SmtpReply refusal)
    {
        _chunkSize = bdat.ChunkSize;
        _chunkLast = bdat.Last;
        _chunkRefusal = refusal;
        return AfterLine.DiscardChunk;
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
                MessageAnswered(refusal, _body.Length);
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
            MessageAnswered(reply, _body.Length);
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
        Reply(_chunkRefusal!);
    }
}
