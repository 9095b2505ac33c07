// The operator's view of the queue (mta queue list/show/flush/delete), served through the control socket.
using Mta.Engine.Control;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

public sealed partial class QueueManager
{
    /// <inheritdoc />
    public IReadOnlyList<QueueEntrySnapshot> List() =>
        _messages.Values.Where(m => !m.IsComplete).OrderBy(m => m.ReceivedAt).ThenBy(m => m.QueueId, StringComparer.Ordinal)
            .Select(Snapshot).ToArray();

    /// <inheritdoc />
    public QueueEntrySnapshot? Find(string queueId) =>
        _messages.TryGetValue(queueId, out var message) ? Snapshot(message) : null;

    /// <inheritdoc />
    public Stream? OpenMessage(string queueId) =>
        _messages.TryGetValue(queueId, out var message) ? message.Content.OpenRead() : null;

    /// <inheritdoc />
    public int Flush(string? queueId = null, string? domain = null)
    {
        bool Matches(Work work) =>
            (queueId is null || string.Equals(work.Message.QueueId, queueId, StringComparison.Ordinal))
            && (domain is null || work.Indexes.Any(i => string.Equals(work.Message.Recipients[i].Address.Domain.TrimEnd('.'),
                domain.TrimEnd('.'), StringComparison.OrdinalIgnoreCase)));
        var due = _schedule.RemoveWhere(Matches);
        var recipients = due.Sum(w => w.Indexes.Length);
        LogFlushed(queueId ?? "-", domain ?? "-", recipients);
        // An operator's flush means "try now": a destination taken for dead would otherwise defer it unseen, so the
        // circuits close first and the work is released after. Counted busy meanwhile, so the queue is not idle.
        lock (_idleGate) _busy++;
        _remote.ResetDestinationsAsync(domain is null ? null : name => name.Contains(domain, StringComparison.OrdinalIgnoreCase))
            .ContinueWith(_ =>
            {
                foreach (var work in due) MakeReady(work with { Forced = true }, retry: true);
                ReleaseBusy();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return recipients;
    }

    /// <inheritdoc />
    public async Task<int> DeleteAsync(string queueId, CancellationToken cancellationToken)
    {
        if (!_messages.TryGetValue(queueId, out var message)) return 0;
        _schedule.RemoveWhere(w => ReferenceEquals(w.Message, message));
        var removed = 0;
        for (var i = 0; i < message.Tracks.Length; i++)
        {
            // A recipient in delivery right now is made final here; its delivery's outcome is then ignored.
            if (!message.TryMakeFinal(i, RecipientOutcome.Deleted, "deleted by the operator")) continue;
            removed++;
            try
            {
                await _spool.MarkFinalAsync(message.Location, i, RecipientOutcome.Deleted, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The spool logged it; the recipient may come back after a restart.
            }
            Interlocked.Decrement(ref _pendingRecipients);
        }
        _messages.TryRemove(queueId, out _);
        LogDeleted(queueId, removed);
        return removed;
    }

    private static QueueEntrySnapshot Snapshot(QueuedMessage message)
    {
        var recipients = new RecipientSnapshot[message.Tracks.Length];
        lock (message.Gate)
        {
            for (var i = 0; i < recipients.Length; i++)
            {
                var track = message.Tracks[i];
                var state = track.State switch
                {
                    RecipientState.Ready => "ready",
                    RecipientState.Active => "active",
                    RecipientState.Deferred => "deferred",
                    _ => track.Outcome switch
                    {
                        RecipientOutcome.Failed => "failed",
                        RecipientOutcome.Deleted => "deleted",
                        _ => "delivered",
                    },
                };
                recipients[i] = new RecipientSnapshot(message.Recipients[i].Address.ToString(), state, track.Attempts,
                    track.State == RecipientState.Deferred ? track.NextAttempt : null, track.LastError);
            }
        }
        return new QueueEntrySnapshot(message.QueueId, message.ReceivedAt, message.Content.Size, message.ReversePath.ToString(), recipients);
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = LogEvents.Queue.Flushed, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Queue flush (id={QueueId}, domain={Domain}): {Recipients} recipients due now")]
    private partial void LogFlushed(string queueId, string domain, int recipients);

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = LogEvents.Queue.Deleted, Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "{QueueId}: deleted by the operator ({Recipients} recipients not delivered, no DSN)")]
    private partial void LogDeleted(string queueId, int recipients);
}
