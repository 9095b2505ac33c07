// What the operator's `mta queue` commands ask of the running queue, through the control socket.
using System.Text.Json.Serialization;

namespace Mta.Engine.Control;

/// <summary>The queue as the operator sees it: list, search, show, flush, hold, release and delete messages.</summary>
public interface IQueueAdministration
{
    /// <summary>Every message with at least one recipient not yet final, oldest first.</summary>
    IReadOnlyList<QueueEntrySnapshot> List();

    /// <summary>
    /// One page of the messages that match <paramref name="query"/>, oldest first (in the order the queue took them in,
    /// which is the order they were accepted). Only the page's messages are snapshot, so a console paging through a
    /// queue of a hundred thousand messages never copies all of them; counting the matches still looks at each message.
    /// </summary>
    /// <param name="query">What to match; an empty query matches every message with a recipient not yet final.</param>
    /// <param name="offset">Matches to skip; at least 0.</param>
    /// <param name="limit">At most this many entries: 0 counts only; more than <see cref="QueueQuery.MaxLimit"/> is taken
    /// as that many.</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative offset or limit.</exception>
    QueuePage Search(QueueQuery query, int offset, int limit);

    /// <summary>One message by queue id, or null.</summary>
    QueueEntrySnapshot? Find(string queueId);

    /// <summary>Opens the stored message (as received, with our Received field) for reading, or null when the id is unknown.</summary>
    Stream? OpenMessage(string queueId);

    /// <summary>
    /// Makes deferred recipients due now: all of them, those of one message (<paramref name="queueId"/>), or those whose
    /// domain is <paramref name="domain"/>. Returns how many recipients were made due.
    /// </summary>
    int Flush(string? queueId = null, string? domain = null);

    /// <summary>Removes a message: every recipient not yet final is journaled as deleted, without a DSN (as postsuper -d).
    /// Returns how many recipients were removed; 0 when the id is unknown.</summary>
    Task<int> DeleteAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>
    /// Puts a message on hold (as postsuper -h): its recipients not yet final become <see cref="QueueRecipientState.Held"/>,
    /// journaled before this returns, so the hold survives a restart. A held recipient is never tried, so it never
    /// expires either, and a flush leaves it alone; its lifetime keeps counting from arrival, as Postfix's does. A
    /// recipient in delivery at that moment finishes that delivery (a release meanwhile starts no second one); if it is
    /// deferred it stays held.
    /// Returns how many recipients were held; 0 when the id is unknown or nothing was left to hold.
    /// </summary>
    Task<int> HoldAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>
    /// Releases a held message (as postsuper -H): its held recipients are journaled as due now and become ready at once.
    /// A message held past its lifetime gets this one attempt; if that is deferred, it bounces as expired.
    /// Returns how many recipients were released; 0 when the id is unknown or nothing was held.
    /// </summary>
    Task<int> ReleaseAsync(string queueId, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IQueueAdministration.Search"/> matches; every given part must match.</summary>
/// <param name="Text">A substring, compared case-insensitively, of the queue id, the sender, or any recipient (its
/// domain included); null or empty matches every message.</param>
/// <param name="State">Only messages with at least one recipient in this state; null for any.</param>
public sealed record QueueQuery(string? Text = null, QueueRecipientState? State = null)
{
    /// <summary>The largest page <see cref="IQueueAdministration.Search"/> gives, so one request stays cheap.</summary>
    public const int MaxLimit = 1000;
}

/// <summary>One page of a search.</summary>
/// <param name="Total">How many messages match the query, on every page.</param>
/// <param name="Entries">The page, oldest first.</param>
public sealed record QueuePage(int Total, IReadOnlyList<QueueEntrySnapshot> Entries);

/// <summary>One message in the queue.</summary>
/// <param name="QueueId">Its id.</param>
/// <param name="ReceivedAt">When it was accepted.</param>
/// <param name="Size">Size in octets.</param>
/// <param name="Sender">The reverse-path without brackets; empty for a bounce.</param>
/// <param name="Recipients">Every recipient, final or not.</param>
public sealed record QueueEntrySnapshot(string QueueId, DateTimeOffset ReceivedAt, long Size, string Sender, IReadOnlyList<RecipientSnapshot> Recipients);

/// <summary>One recipient of a queued message.</summary>
/// <param name="Address">The forward-path without brackets.</param>
/// <param name="State">Where it is; on the control socket the lower-case name (<c>ready</c>, <c>active</c>, ...).</param>
/// <param name="Attempts">Failed delivery attempts so far.</param>
/// <param name="NextAttempt">When a deferred recipient is tried next, else null.</param>
/// <param name="LastError">The reason of the last temporary failure, else null.</param>
public sealed record RecipientSnapshot(string Address, QueueRecipientState State, int Attempts, DateTimeOffset? NextAttempt, string? LastError);

/// <summary>Where a queued recipient is, as the operator sees it; written lower-case on the control socket.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<QueueRecipientState>))]
public enum QueueRecipientState
{
    /// <summary>Waiting for a delivery worker.</summary>
    [JsonStringEnumMemberName("ready")] Ready,
    /// <summary>Being delivered (or waiting for a slot of its destination).</summary>
    [JsonStringEnumMemberName("active")] Active,
    /// <summary>Waiting for its next attempt (or held until its domain asks with ETRN or TURN).</summary>
    [JsonStringEnumMemberName("deferred")] Deferred,
    /// <summary>Final: delivered.</summary>
    [JsonStringEnumMemberName("delivered")] Delivered,
    /// <summary>Final: failed (a DSN went to the sender).</summary>
    [JsonStringEnumMemberName("failed")] Failed,
    /// <summary>Final: deleted by the operator.</summary>
    [JsonStringEnumMemberName("deleted")] Deleted,
    /// <summary>On hold by the operator (<c>mta queue hold</c>): never tried until released, whatever its schedule.</summary>
    [JsonStringEnumMemberName("held")] Held,
}

/// <summary>Extensions of <see cref="QueueRecipientState"/>.</summary>
public static class QueueRecipientStates
{
    /// <summary>True for a recipient still to be delivered: ready, active, deferred or held.</summary>
    public static bool IsPending(this QueueRecipientState state) =>
        state is QueueRecipientState.Ready or QueueRecipientState.Active or QueueRecipientState.Deferred or QueueRecipientState.Held;

    /// <summary>The name the operator sees (<c>deferred</c>), as on the control socket.</summary>
    public static string ToDisplayName(this QueueRecipientState state) => state.ToString().ToLowerInvariant();
}
