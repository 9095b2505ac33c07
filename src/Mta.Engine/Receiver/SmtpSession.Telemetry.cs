// The session's span (Mta.Receiver) and its per-message measurements: one place, so no handler can count twice or forget.
using System.Diagnostics;
using Mta.Engine.Telemetry;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>The span's name: one per SMTP session.</summary>
    internal const string SpanName = SessionSpans.Name;

    private Activity? _span;
    // The queue id FinishMessageAsync gave the message being answered (null when it was refused before one was given).
    private string? _queueId;
    // Why the session failed, for the span's error status; null when it ended normally.
    private string? _spanFailure;
    // The mechanism of the AUTH exchange under way, for the failure count.
    private string _authMechanism = Sasl.Plain;

    private void StartSpan() => _span = SessionSpans.Start(RemoteEndPoint, LocalEndPoint, ListenerName, SessionId);

    private void EndSpan()
    {
        SessionSpans.End(_span, _closeReason, _messagesAccepted, _spanFailure);
        _span = null;
    }

    /// <summary>A message was answered after its data: counted, and an event on the span with its queue id and reply.</summary>
    private void MessageAnswered(SmtpReply reply, long bytes)
    {
        _ctx.Metrics?.Transaction(ListenerName, reply, bytes);
        SessionSpans.MessageAnswered(_span, _queueId, reply.Code, bytes);
        _queueId = null;
    }

    /// <summary>Called before the spool commit (the queue may deliver the moment it returns): the delivery spans of
    /// <paramref name="queueId"/> link to this session's span.</summary>
    private void QueueingAs(string queueId)
    {
        _queueId = queueId;
        SessionSpans.Queueing(_span, queueId, _ctx.ReceivedSpans);
    }

    /// <summary>The spool refused the message: no delivery will link to this session.</summary>
    private void NotQueued(string queueId) => _ctx.ReceivedSpans?.Remove(queueId);

    /// <summary>A failed AUTH attempt, by mechanism (only the two offered ones reach an exchange, so the tag is bounded).</summary>
    private void CountAuthFailure(string mechanism) =>
        _ctx.Metrics?.AuthFailure(ListenerName, string.Equals(mechanism, Sasl.Login, StringComparison.OrdinalIgnoreCase) ? Sasl.Login : Sasl.Plain);
}
