// What the operator's `mta queue` commands ask of the running queue, through the control socket.
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
/// <param name="State"><c>ready</c> (waiting for a worker), <c>active</c> (being delivered), <c>deferred</c> (waiting for
/// its next attempt), <c>delivered</c> or <c>failed</c> (final).</param>
/// <param name="Attempts">Failed delivery attempts so far.</param>
/// <param name="NextAttempt">When a deferred recipient is tried next, else null.</param>
/// <param name="LastError">The reason of the last temporary failure, else null.</param>
public sealed record RecipientSnapshot(string Address, string State, int Attempts, DateTimeOffset? NextAttempt, string? LastError);
