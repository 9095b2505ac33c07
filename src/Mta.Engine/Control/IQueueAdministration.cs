// What the operator's `mta queue` commands ask of the running queue, through the control socket.
using System.Text.Json.Serialization;

namespace Mta.Engine.Control;

/// <summary>The queue as the operator sees it: list, show, flush and delete messages.</summary>
public interface IQueueAdministration
{
    /// <summary>Every message with at least one recipient not yet final, oldest first.</summary>
    IReadOnlyList<QueueEntrySnapshot> List();

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
}

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
}

/// <summary>Extensions of <see cref="QueueRecipientState"/>.</summary>
public static class QueueRecipientStates
{
    /// <summary>True for a recipient still to be delivered: ready, active or deferred.</summary>
    public static bool IsPending(this QueueRecipientState state) =>
        state is QueueRecipientState.Ready or QueueRecipientState.Active or QueueRecipientState.Deferred;

    /// <summary>The name the operator sees (<c>deferred</c>), as on the control socket.</summary>
    public static string ToDisplayName(this QueueRecipientState state) => state.ToString().ToLowerInvariant();
}
