// The last delivery attempts, one record per recipient, for the console's "recent deliveries" page.
namespace Mta.Engine.Status;

/// <summary>
/// The most recent delivery attempts, one record per recipient and attempt, newest first. A bounded ring kept in
/// memory: what fell out of it is in the log (grep the queue id), not here.
/// </summary>
public interface IRecentDeliveries
{
    /// <summary>Up to <paramref name="max"/> records, newest first; fewer when fewer attempts were made since start.</summary>
    IReadOnlyList<DeliveryRecord> Recent(int max);
}

/// <summary>One recipient's delivery attempt.</summary>
/// <param name="At">When its outcome was recorded.</param>
/// <param name="QueueId">The message's queue id.</param>
/// <param name="Recipient">The recipient's address, without brackets.</param>
/// <param name="Outcome"><c>delivered</c>, <c>deferred</c> or <c>failed</c> (a bounce, or an expiry).</param>
/// <param name="RouteKind">The route's kind in lower case (<c>remote</c>, <c>mailbox</c>, ...), or <c>hook</c> when a
/// route hook decided before any route was chosen: the <c>route_kind</c> tag of the delivery metrics.</param>
/// <param name="Destination">What the attempt went to: a next hop's key for SMTP, <c>kind:target</c> for a local route;
/// null when a hook decided before a route was chosen.</param>
/// <param name="Reply">The outcome's line, as the log shows it (the remote reply, or why it failed).</param>
/// <param name="Duration">How long the attempt took (the agent's call; zero when a hook decided without one).</param>
public sealed record DeliveryRecord(DateTimeOffset At, string QueueId, string Recipient, string Outcome, string RouteKind, string? Destination,
    string Reply, TimeSpan Duration);
