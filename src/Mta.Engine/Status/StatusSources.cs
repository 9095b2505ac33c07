// Where the status reads the server's levels: the listeners, the queue's pending count, and one walk of the queued messages.
using System.Globalization;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Engine.Receiver;

namespace Mta.Engine.Status;

/// <summary>
/// The parts of the server <see cref="ServerStatus"/> reads, behind delegates so a unit test gives it a queue and
/// listeners of its own and drives only the clock and the meters.
/// </summary>
internal sealed class StatusSources(
    string hostName,
    Func<IReadOnlyList<ListenerStatus>> listeners,
    Func<long> pendingRecipients,
    Func<DateTimeOffset, int, (QueueStatus Queue, QueueShape Shape)> census)
{
    public string HostName => hostName;

    public IReadOnlyList<ListenerStatus> Listeners() => listeners();

    public long PendingRecipients() => pendingRecipients();

    public (QueueStatus Queue, QueueShape Shape) Census(DateTimeOffset now, int topDomains) => census(now, topDomains);

    /// <summary>The running engine's: its listeners as bound, the queue's counters and its messages.</summary>
    public static StatusSources Of(MtaOptions options, SmtpServer? server, QueueScheduler scheduler, QueueCounters counters) =>
        new(options.HostName, () => ListenersOf(options, server), () => counters.PendingRecipients,
            (now, top) => QueueCensus.Take(scheduler.Messages, now, top));

    // The server binds the configured listeners in order, so its endpoints pair with them by position; until it has
    // bound them all (start-up) the endpoint is unknown rather than guessed from the configuration.
    private static ListenerStatus[] ListenersOf(MtaOptions options, SmtpServer? server)
    {
        IReadOnlyList<System.Net.IPEndPoint> bound;
        try
        {
            bound = server?.BoundEndPoints ?? [];
        }
        catch (InvalidOperationException)
        {
            // Read while the server was still adding listeners at start-up: none is reported bound yet.
            bound = [];
        }
        var listeners = new ListenerStatus[options.Listeners.Count];
        for (var i = 0; i < listeners.Length; i++)
        {
            var listener = options.Listeners[i];
            var endPoint = bound.Count == listeners.Length ? bound[i].ToString() : null;
            listeners[i] = new ListenerStatus(listener.Name, endPoint,
                listener.Role.ToString().ToLower(CultureInfo.InvariantCulture), listener.Tls.ToString().ToLower(CultureInfo.InvariantCulture));
        }
        return listeners;
    }
}

/// <summary>One pass over the queued messages: recipients by state, the oldest message, and the qshape table.</summary>
internal static class QueueCensus
{
    private const int Ready = 0, Active = 1, Deferred = 2, Held = 3;

    // The pending states each have a slot; a final recipient has none and is not counted.
    private static int SlotOf(RecipientState state) => state switch
    {
        RecipientState.Ready => Ready,
        RecipientState.Active => Active,
        RecipientState.Deferred => Deferred,
        RecipientState.Held => Held,
        _ => -1,
    };

    public static (QueueStatus Queue, QueueShape Shape) Take(IEnumerable<QueuedMessage> messages, DateTimeOffset now, int topDomains)
    {
        var shape = new QueueShapeBuilder(now);
        Span<long> states = stackalloc long[4];
        long count = 0;
        DateTimeOffset? oldest = null;
        foreach (var message in messages)
        {
            var pending = false;
            lock (message.Gate)
            {
                for (var i = 0; i < message.Tracks.Length; i++)
                {
                    var slot = SlotOf(message.Tracks[i].State);
                    if (slot < 0) continue;
                    states[slot]++;
                    shape.Add(message.Recipients[i].Address.Domain, message.ReceivedAt);
                    pending = true;
                }
            }
            if (!pending) continue;
            count++;
            if (oldest is null || message.ReceivedAt < oldest) oldest = message.ReceivedAt;
        }
        var age = oldest is { } o ? now - o : (TimeSpan?)null;
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        var queue = new QueueStatus(count, states[Ready] + states[Active] + states[Deferred] + states[Held],
            states[Ready], states[Active], states[Deferred], states[Held], age);
        return (queue, shape.Build(topDomains));
    }
}
