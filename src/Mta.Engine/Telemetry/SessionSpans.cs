// The span of an SMTP session (Mta.Receiver) and its per-message event, apart from the session so a bench can drive them.
using System.Diagnostics;
using System.Net;

namespace Mta.Engine.Telemetry;

/// <summary>Starts and ends the <c>smtp.session</c> spans; without a listener <see cref="Start"/> returns null at once.</summary>
internal static class SessionSpans
{
    /// <summary>The span's name: one per SMTP session.</summary>
    public const string Name = "smtp.session";

    /// <summary>Starts the session's span when something listens to <c>Mta.Receiver</c>. It is not left as the ambient
    /// <see cref="Activity.Current"/>: an ambient activity rides in the execution context of every await of the session
    /// (each read, write and hook call) for its whole life, a cost per command for a span that wants only its events.</summary>
    public static Activity? Start(IPEndPoint remote, IPEndPoint local, string listener, string sessionId)
    {
        var source = MtaTelemetry.ReceiverSource;
        if (!source.HasListeners()) return null;
        // No tags at the start: the sampler decides a session by its trace id alone, so a session it leaves out costs
        // no tag at all; a recorded one gets them at once.
        var ambient = Activity.Current;
        var span = source.StartActivity(Name, ActivityKind.Server);
        if (span is null) return null;
        Activity.Current = ambient;
        if (span.IsAllDataRequested)
        {
            span.SetTag("client.address", remote.Address.ToString());
            span.SetTag("client.port", remote.Port);
            span.SetTag("server.port", local.Port);
            span.SetTag("mta.listener", listener);
            span.SetTag("mta.session_id", sessionId);
        }
        return span;
    }

    /// <summary>A message was answered after its data: an event with its queue id and reply, when the span records.</summary>
    public static void MessageAnswered(Activity? span, string? queueId, int replyCode, long bytes)
    {
        if (span is not { IsAllDataRequested: true }) return;
        span.AddEvent(new ActivityEvent("message", tags: new ActivityTagsCollection
        {
            { MtaTelemetry.Tags.QueueId, queueId },
            { "smtp.reply_code", replyCode },
            { "mta.result", replyCode / 100 == 2 ? "accepted" : "rejected" },
            { "mta.size", bytes },
        }));
    }

    /// <summary>Called before the spool commit (the queue may deliver the moment it returns): remembers whether and
    /// where this message's delivery spans link, so a message of an unsampled session gets none.</summary>
    public static void Queueing(Activity? span, string queueId, ReceivedSpans? received)
    {
        if (received is null) return;
        if (span is { Recorded: true }) received.Add(queueId, span.Context);
        else if (MtaTelemetry.ReceiverSource.HasListeners()) received.AddUnsampled(queueId);
    }

    /// <summary>Ends the span with why the session ended; a failure (timeout, TLS, internal error) sets the error status.</summary>
    public static void End(Activity? span, string? closeReason, int messagesAccepted, string? failure)
    {
        if (span is null) return;
        span.SetTag("mta.close_reason", closeReason);
        span.SetTag("mta.messages_accepted", messagesAccepted);
        if (failure is not null) span.SetStatus(ActivityStatusCode.Error, failure);
        // Stop makes the span's parent current; the session's own ambient activity (none, or a caller's) is kept.
        var ambient = Activity.Current;
        span.Dispose();
        if (Activity.Current != ambient) Activity.Current = ambient;
    }
}
