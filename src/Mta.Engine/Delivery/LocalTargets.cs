// The two local targets an alias or a transport may name besides a mailbox: a command fed the message, a file appended to.
using Mta.Abstractions;

namespace Mta.Engine.Delivery;

/// <summary>A Unix account a local delivery runs as (looked up in the passwd database).</summary>
/// <param name="Name">The login name.</param>
/// <param name="Uid">The user id.</param>
/// <param name="Gid">The primary group id.</param>
/// <param name="Home">The home directory.</param>
/// <param name="Shell">The login shell.</param>
public sealed record UnixAccount(string Name, uint Uid, uint Gid, string Home, string Shell);

/// <summary>Delivers a copy to a command (an alias's <c>|command</c>, or a configured pipe transport).</summary>
public interface IPipeDelivery
{
    /// <summary>
    /// Runs <paramref name="command"/> (a shell command line) with the message on its standard input and the envelope in
    /// its environment, as <paramref name="runAs"/> (null: the server's own user), within the configured time limit.
    /// Exit 0 is delivered; the sysexits codes map to a bounce or a deferral; a command that overruns is killed and deferred.
    /// </summary>
    ValueTask<DeliveryOutcome> PipeAsync(string command, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
        CancellationToken cancellationToken);
}

/// <summary>Delivers a copy by appending it to a file (an alias's <c>/path</c> target), in mbox format.</summary>
public interface IFileDelivery
{
    /// <summary>
    /// Appends the message to <paramref name="path"/> (created when missing) as an mbox entry (a <c>From </c> line, the
    /// message with <c>From </c> lines quoted, a blank line), under a lock, as <paramref name="runAs"/> (null: the
    /// server's own user), and fsyncs it. A write that fails is deferred, never bounced.
    /// </summary>
    ValueTask<DeliveryOutcome> AppendAsync(string path, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
        CancellationToken cancellationToken);
}
