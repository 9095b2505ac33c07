// The receiver's view of the durable spool: commit one message, return only once it is on disk.
namespace Mta.Engine.Spool;

/// <summary>
/// Durable storage for accepted messages. A message whose commit returned is fsync'd (data and, for a new
/// file, its directory entry) and survives a crash; the session may then answer 250.
/// </summary>
public interface IMessageSpool
{
    /// <summary>
    /// Writes the envelope and message and returns once both are durable. Throws <see cref="SpoolWriteException"/>
    /// when they could not be written; nothing of a failed commit is ever delivered as acknowledged.
    /// </summary>
    /// <param name="envelope">The envelope; its <see cref="SpoolEnvelope.QueueId"/> comes from <see cref="QueueIds.Next"/>.</param>
    /// <param name="message">The message as stored (Received field added, dot-unstuffed, CRLF). Copied before the call returns
    /// to its first await, so the caller may reuse the buffer once the returned task completes.</param>
    /// <param name="cancellationToken">Stops waiting; a commit already handed to the writer may still reach the disk.</param>
    ValueTask CommitAsync(SpoolEnvelope envelope, System.Buffers.ReadOnlySequence<byte> message, CancellationToken cancellationToken);

    /// <summary>A new temporary file in the queue directory for a message too large to hold in memory, or null when this
    /// spool cannot take one (the receiver then keeps the whole message in memory).</summary>
    SpoolBodyFile? CreateBodyFile() => null;

    /// <summary>
    /// Commits a message whose content is <paramref name="prefix"/> followed by octets <paramref name="bodyStart"/>.. of
    /// <paramref name="body"/>: the body file is made durable and becomes part of the record without being copied.
    /// Returns once everything is durable, as the other overload. The file belongs to the spool afterwards.
    /// </summary>
    ValueTask CommitAsync(SpoolEnvelope envelope, ReadOnlyMemory<byte> prefix, SpoolBodyFile body, long bodyStart, CancellationToken cancellationToken) =>
        throw new NotSupportedException("this spool takes no body files");
}

/// <summary>A commit that failed: the session answers 452 4.3.1 when <see cref="IsDiskFull"/>, else 451 4.3.0.</summary>
public sealed class SpoolWriteException : IOException
{
    public SpoolWriteException(string message, bool isDiskFull, Exception? innerException = null)
        : base(message, innerException) => IsDiskFull = isDiskFull;

    /// <summary>True when the disk (or the user's quota) is full: RFC 3463 4.3.1, "mail system full".</summary>
    public bool IsDiskFull { get; }
}
