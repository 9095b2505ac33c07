// The per-message trail's own lines: what a grep for a queue id shows that no delivery, bounce or receive line says.
using Microsoft.Extensions.Logging;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

/// <summary>
/// Lines that close a message's trail, as Postfix's qmgr writes <c>QUEUEID: removed</c>: an operator reading the log
/// by queue id sees when the queue let go of the message and what became of its recipients, without counting the
/// recipient lines above it.
/// </summary>
internal static partial class MessageTrail
{
    /// <summary>Logs that <paramref name="message"/> left the queue, every recipient final.</summary>
    public static void Removed(ILogger logger, QueuedMessage message)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        int delivered = 0, failed = 0, deleted = 0;
        lock (message.Gate)
        {
            foreach (var track in message.Tracks)
            {
                switch (track.Outcome)
                {
                    case RecipientOutcome.Delivered: delivered++; break;
                    case RecipientOutcome.Failed: failed++; break;
                    case RecipientOutcome.Deleted: deleted++; break;
                }
            }
        }
        LogRemoved(logger, message.QueueId, delivered, failed, deleted);
    }

    [LoggerMessage(EventId = LogEvents.Trail.Removed, Level = LogLevel.Information,
        Message = "{QueueId}: removed from the queue: delivered={Delivered} bounced={Bounced} deleted={Deleted}")]
    private static partial void LogRemoved(ILogger logger, string queueId, int delivered, int bounced, int deleted);
}
