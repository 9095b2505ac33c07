// The session's span (Mta.Receiver) and its per-message measurements: one place, so no handler can count twice or forget.
using System.Diagnostics;
using Mta.Engine.Telemetry;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>The span's name: one per SMTP session.</summary>
    internal const string SpanName = "smtp.session";

    private Activity? _span;
    // The queue id FinishMessageAsync gave the message being answered (null when it was refused before one was given).
    private string? _queueId;
    // Why the session failed, for the span's error status; null when it ended normally.
    private string? _spanFailure;
    // The mechanism of the AUTH exchange under way, for the failure count.
    private string _authMechanism = Sasl.Plain;

    /// <summary>Starts the session's span when something listens to <c>Mta.Receiver</c>. It is not left as the ambient
    /// <see cref="Activity.Current"/>: an ambient activity rides in the execution context of every await of the session
    /// (each read, write and hook call) for its whole life, a cost per command for a span that wants only its events.</summary>
    private void StartSpan()
    {
        var source = MtaTelemetry.ReceiverSource;
        if (!source.HasListeners()) return;
        var tags = new TagList
        {
            { "client.address", RemoteEndPoint.Address.ToString() },
            { "client.port", RemoteEndPoint.Port },
            { "server.port", LocalEndPoint.Port },
            { "mta.listener", ListenerName },
            { "mta.session_id", SessionId },
        };
        var ambient = Activity.Current;
        _span = source.StartActivity(ActivityKind.Server, default, tags, null, default, SpanName);
        if (_span is not null) Activity.Current = ambient;
    }

    /// <summary>Ends the span with why the session ended; a failure (timeout, TLS, internal error) sets the error status.</summary>
    private void EndSpan()
    {
        var failure = _spanFailure;
        if (_span is not { } span) return;
        span.SetTag("mta.close_reason", _closeReason);
        span.SetTag("mta.messages_accepted", _messagesAccepted);
        if (failure is not null) span.SetStatus(ActivityStatusCode.Error, failure);
        // Stop makes the span's parent current; the session's own ambient activity (none, or a caller's) is kept.
        var ambient = Activity.Current;
        span.Dispose();
        if (Activity.Current != ambient) Activity.Current = ambient;
        _span = null;
    }

    /// <summary>A message was answered after its data: counted, and an event on the span with its queue id and reply.</summary>
    private void MessageAnswered(SmtpReply reply, long bytes)
    {
        _ctx.Metrics?.Transaction(ListenerName, reply, bytes);
        if (_span is { IsAllDataRequested: true } span)
        {
            span.AddEvent(new ActivityEvent("message", tags: new ActivityTagsCollection
            {
                { MtaTelemetry.Tags.QueueId, _queueId },
                { "smtp.reply_code", reply.Code },
                { "mta.result", reply.Code / 100 == 2 ? "accepted" : "rejected" },
                { "mta.size", bytes },
            }));
        }
        _queueId = null;
    }

    /// <summary>Called before the spool commit (the queue may deliver the moment it returns): the delivery spans of
    /// <paramref name="queueId"/> link to this session's span.</summary>
    private void QueueingAs(string queueId)
    {
        _queueId = queueId;
        if (_span is { } span && span.Recorded) _ctx.ReceivedSpans?.Add(queueId, span.Context);
    }

    /// <summary>The spool refused the message: no delivery will link to this session.</summary>
    private void NotQueued(string queueId) => _ctx.ReceivedSpans?.Remove(queueId);

    /// <summary>A failed AUTH attempt, by mechanism (only the two offered ones reach an exchange, so the tag is bounded).</summary>
    private void CountAuthFailure(string mechanism) =>
        _ctx.Metrics?.AuthFailure(ListenerName, string.Equals(mechanism, Sasl.Login, StringComparison.OrdinalIgnoreCase) ? Sasl.Login : Sasl.Plain);
}
