// The address maps at the end of DATA: the envelope (and, for the site's own mail, the header) rewritten before the queue.
using System.Buffers;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Maps;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>
    /// The envelope as it is queued: the sender by the canonical sender maps, each recipient by the canonical recipient
    /// maps and the virtual aliases (<see cref="AddressRewriter"/>), the way Postfix's cleanup rewrites before the queue.
    /// It happens here, once per message, rather than at RCPT so that RCPT, DATA and data_post hooks see the addresses
    /// the client sent, while the queue, the router and every delivery see the final ones (each with the original as
    /// ORCPT). An expansion that fails now (a map edited since RCPT made a loop) defers the message with 451.
    /// </summary>
    private (SmtpAddress ReversePath, EnvelopeRecipient[] Recipients, SmtpReply? Refusal) RewriteEnvelope(Transaction tx)
    {
        if (_ctx.Recipients.Maps is not { IsEmpty: false } maps) return (tx.ReversePath, tx.Recipients.ToArray(), null);
        var (reversePath, recipients, error, failed) = maps.RewriteEnvelope(tx.ReversePath, tx.Recipients);
        if (error is null) return (reversePath, recipients, null);
        LogAliasExpansionFailed(SessionId, failed!.Address.ToString(), string.Join(' ', error.Lines));
        return (tx.ReversePath, [], new SmtpReply(451, "4.3.0", "Local error in processing: an address map changed during the transaction, try again later"));
    }

    /// <summary>
    /// Rewrites the addresses of From, Sender and Reply-To (sender maps) and To and Cc (recipient maps) in the header of
    /// mail from trusted or authenticated clients (<c>Canonical:RewriteHeaders</c>), before trace fields and DKIM
    /// signing. Mail from anyone else keeps its header as sent: rewriting it would break its senders' DKIM signatures,
    /// which is why Postfix rewrites only local clients' headers by default. Only the header section is rewritten; a
    /// spilled body stays on disk.
    /// </summary>
    private void RewriteHeaderAddresses()
    {
        if (_ctx.Recipients.Maps?.Canonical is not { IsEmpty: false, RewriteHeaders: true } canonical || !IsOutgoing) return;
        // The head was read before forged fields were removed; read the current one.
        var current = _body.Head(_ctx.Options.Limits.MaxHeaderBytes + 2);
        if (CanonicalHeaders.Rewrite(current, canonical) is not { } rewritten) return;
        _body.ReplaceHead(rewritten.Header, rewritten.ReplacedLength);
        LogHeaderRewritten(SessionId, rewritten.Fields);
    }

    [LoggerMessage(EventId = LogEvents.Maps.AliasExpansionFailed, Level = LogLevel.Warning, Message = "session={SessionId} recipient {Recipient} could not be expanded at the end of DATA: {Reason}; message deferred")]
    private partial void LogAliasExpansionFailed(string sessionId, string recipient, string reason);

    [LoggerMessage(EventId = LogEvents.Maps.HeaderRewritten, Level = LogLevel.Debug, Message = "session={SessionId} canonical maps rewrote {Count} header field(s)")]
    private partial void LogHeaderRewritten(string sessionId, int count);
}
