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
        var wanted = domain?.TrimEnd('.');
        bool OfDomain(QueuedMessage message, int index) => wanted is null
            || string.Equals(message.Recipients[index].Address.Domain.TrimEnd('.'), wanted, StringComparison.OrdinalIgnoreCase);
        var removed = _schedule.RemoveWhere(work =>
            (queueId is null || string.Equals(work.Message.QueueId, queueId, StringComparison.Ordinal))
            && work.Indexes.Any(i => OfDomain(work.Message, i)));
        var due = new List<Work>(removed.Count);
        foreach (var work in removed)
        {
            // A retry item holds a message's recipients that share a next attempt, whatever their domains: a flush for
            // one domain takes only that domain's, and the others (held for another domain, say) keep their time.
            var mine = work.Indexes.Where(i => OfDomain(work.Message, i)).ToArray();
            due.Add(work with { Indexes = mine });
            if (mine.Length < work.Indexes.Length) ScheduleAgain(work with { Indexes = work.Indexes.Except(mine).ToArray() });
        }
        var recipients = due.Sum(w => w.Indexes.Length);
        LogFlushed(queueId ?? "-", domain ?? "-", recipients);
        // An operator's flush means "try now": a destination taken for dead would otherwise defer it unseen, so the
        // circuits close first and the work is released after. Counted busy meanwhile, so the queue is not idle.
        lock (_idleGate) _busy++;
        (wanted is null ? _remote.ResetDestinationsAsync() : _remote.ResetDestinationsOfAsync(wanted))
            .ContinueWith(_ =>
            {
                foreach (var work in due) MakeReady(work with { Forced = true }, retry: true);
                ReleaseBusy();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return recipients;
    }

    /// <summary>Puts recipients taken out of the retry schedule back in it, at their own next attempt.</summary>
    private void ScheduleAgain(Work work)
    {
        DateTimeOffset at;
        lock (work.Message.Gate) at = work.Indexes.Select(i => work.Message.Tracks[i].NextAttempt ?? _time.GetUtcNow()).Min();
        _schedule.Add(work, at);
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
