// One span per delivery attempt, linked to the span of the session that received the message.
using System.Diagnostics;

namespace Mta.Engine.Telemetry;

/// <summary>Starts and ends the <c>Mta.Delivery</c> spans; without a listener <see cref="Start"/> returns null at once.</summary>
internal static class DeliverySpans
{
    public const string Name = "mta.delivery";

    /// <param name="queueId">The message.</param>
    /// <param name="routeKind">The route kind's tag value.</param>
    /// <param name="destination">The destination (mail domain, next hop, mailbox).</param>
    /// <param name="recipients">Recipients in the attempt.</param>
    /// <param name="received">Span contexts of this process's sessions; the one that received the message becomes a link.</param>
    public static Activity? Start(string queueId, string routeKind, string destination, int recipients, ReceivedSpans? received)
    {
        var source = MtaTelemetry.DeliverySource;
        if (!source.HasListeners()) return null;
        ActivityLink[]? links = null;
        switch (received?.Find(queueId, out var context))
        {
            case ReceivedAs.Unsampled: return null;
            case ReceivedAs.Sampled: links = [new ActivityLink(context)]; break;
        }
        // Only the queue id at the start, for the sampler to decide a message with no link by; the rest once it records.
        KeyValuePair<string, object?>[] tags = [new(MtaTelemetry.Tags.QueueId, queueId)];
        var ambient = Activity.Current;
        var activity = source.StartActivity(ActivityKind.Client, default, tags, links, default, Name);
        if (activity is null) return null;
        // Not left ambient: it would ride in the execution context of every await of the agent's conversation.
        Activity.Current = ambient;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag("mta.route_kind", routeKind);
            activity.SetTag("mta.destination", destination);
            activity.SetTag("mta.recipients", recipients);
        }
        return activity;
    }

    /// <summary>Ends the span with its outcome; an error status unless every recipient was delivered.</summary>
    public static void End(Activity? activity, string outcome, string? detail)
    {
        if (activity is null) return;
        activity.SetTag("mta.outcome", outcome);
        if (outcome == "delivered") activity.SetStatus(ActivityStatusCode.Ok);
        else activity.SetStatus(ActivityStatusCode.Error, detail);
        // Stop makes the span's parent current; the caller's ambient activity is kept.
        var ambient = Activity.Current;
        activity.Dispose();
        if (Activity.Current != ambient) Activity.Current = ambient;
    }
}
