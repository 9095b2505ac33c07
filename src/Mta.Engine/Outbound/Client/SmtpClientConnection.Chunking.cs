// The message as BDAT chunks (RFC 3030 CHUNKING): no dot-stuffing, pipelined when offered, one reply per chunk.
using System.Buffers;
using Mta.Protocol;
using Mta.Protocol.Client;

namespace Mta.Engine.Outbound.Client;

public sealed partial class SmtpClientConnection
{
    // A typical message goes in one BDAT LAST; a large one costs one pooled buffer of this size, whatever its length.
    internal const int BdatChunkSize = 256 * 1024;

    // With PIPELINING, chunks sent before the oldest reply is awaited: keeps the line busy while the server stores a
    // chunk, and bounds what is on the wire after a chunk the server refused (RFC 3030 4.2: send nothing more then).
    private const int MaxChunksInFlight = 4;

    /// <summary>True when this transaction goes with BDAT: the server offers CHUNKING and the settings allow it.</summary>
    private bool UsesChunking(EhloCapabilities caps) => _settings.UseChunking && caps.Chunking;

    /// <summary>Queues <c>BDAT size [LAST]</c> and the chunk's octets as they are.</summary>
    private void AppendChunk(MessageChunkReader chunks)
    {
        Append(ClientCommands.Bdat(chunks.Current.Length, chunks.IsLast));
        _writer.Write(chunks.Current.Span);
    }

    /// <summary>
    /// After MAIL and RCPT: sends the rest of the message as chunks and decides the accepted recipients. Every BDAT
    /// gets one reply, in order. The reply to the LAST chunk decides the message as the reply to the final dot does; a
    /// refused earlier chunk ends the transaction (RFC 3030 4.2: no further chunk is sent, the replies still due are
    /// read, then RSET) and decides the accepted recipients by its code.
    /// </summary>
    /// <param name="results">Per-recipient results, RCPT refusals filled in.</param>
    /// <param name="accepted">Indexes of the recipients the server accepted.</param>
    /// <param name="mailAccepted">False when MAIL was refused (pipelined): there is no transaction to reset.</param>
    /// <param name="chunks">The message; its first chunk is read already.</param>
    /// <param name="firstSent">The first chunk went out with MAIL and RCPT (pipelined); its reply is still due.</param>
    /// <param name="caps">The server's capabilities.</param>
    /// <param name="ct">Cancels; the connection is then unusable.</param>
    private async Task<TransactionResult> SendChunksAsync(RecipientResult?[] results, List<int> accepted, bool mailAccepted,
        MessageChunkReader chunks, bool firstSent, EhloCapabilities caps, CancellationToken ct)
    {
        var timeouts = _settings.Timeouts;
        var window = caps.Pipelining ? MaxChunksInFlight : 1;
        var inFlight = firstSent ? 1 : 0;
        var lastSent = firstSent && chunks.IsLast;
        var needRead = firstSent;
        SmtpReply? refusal = null;

        // With nobody to send to (pipelined: every RCPT or MAIL refused) no further chunk goes out; the one already
        // sent is answered with the expected 503/554, which decides nothing more.
        if (accepted.Count == 0)
        {
            SmtpReply? ignored = null;
            if (inFlight > 0)
            {
                ignored = await ReadReplyAsync(SessionStage.Data, timeouts.DataTermination, ct).ConfigureAwait(false);
                if (ignored.Code == 421) return Closing(results, ignored, "BDAT", caps);
            }
            if (mailAccepted) await ResetQuietlyAsync(ct).ConfigureAwait(false);
            return Finish(results, caps, ignored);
        }

        while (!lastSent)
        {
            if (inFlight >= window)
            {
                var reply = await ReadReplyAsync(SessionStage.Data, timeouts.DataBlock, ct).ConfigureAwait(false);
                inFlight--;
                if (reply.Code == 421) return Closing(results, reply, "BDAT", caps);
                if (!IsSuccess(reply))
                {
                    refusal = reply;
                    break;
                }
            }
            if (needRead)
            {
                try
                {
                    await chunks.ReadNextAsync(ct).ConfigureAwait(false);
                }
                catch
                {
                    // Chunks without LAST are on their way: only closing keeps the server from waiting for the rest
                    // (RSET would do too, but the reader's failure may as well be the connection's cancellation).
                    _state = State.Broken;
                    throw;
                }
            }
            needRead = true;
            AppendChunk(chunks);
            await FlushAsync(SessionStage.Data, timeouts.DataBlock, ct).ConfigureAwait(false);
            inFlight++;
            lastSent = chunks.IsLast;
        }

        SmtpReply? final = null;
        while (inFlight > 0)
        {
            var isFinal = inFlight == 1 && lastSent && refusal is null;
            var reply = await ReadReplyAsync(SessionStage.Data, isFinal ? timeouts.DataTermination : timeouts.DataBlock, ct).ConfigureAwait(false);
            inFlight--;
            if (reply.Code == 421) return Closing(results, reply, isFinal ? "BDAT LAST" : "BDAT", caps);
            if (isFinal) final = reply;
            else if (!IsSuccess(reply)) refusal ??= reply;
        }
        LogChunksSent(_host, chunks.TotalRead, chunks.Chunks, caps.Pipelining);

        if (refusal is not null)
        {
            // A refused chunk ends the transaction (RFC 3030 4.2); RSET makes sure the server forgot it.
            FillOpen(results, refusal, "BDAT");
            await ResetQuietlyAsync(ct).ConfigureAwait(false);
            return Finish(results, caps, refusal);
        }
        // Without a refusal the loop above sent LAST, and the last reply read was its.
        if (final is null) throw new InvalidOperationException("BDAT LAST was sent but its reply was not read");
        return await DecideAcceptedAsync(results, accepted, final, "BDAT LAST", caps, ct).ConfigureAwait(false);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
