// The operator's view of the queue (mta queue list/show/flush/delete, ETRN) and TURN's delivery over a reversed connection.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Control;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

/// <summary>
/// What the operator and the SMTP commands that release mail (ETRN, TURN) ask of the running queue. It acts through
/// the scheduler's retry queue and the journal; it never delivers by itself except for TURN, whose connection the
/// client handed over.
/// </summary>
public sealed partial class QueueAdministration : IQueueAdministration
{
    private readonly QueueScheduler _scheduler;
    private readonly DeliveryJournal _journal;
    private readonly SmtpDeliveryAgent _smtp;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    internal QueueAdministration(QueueScheduler scheduler, DeliveryJournal journal, SmtpDeliveryAgent smtp, TimeProvider time,
        ILogger<QueueAdministration> logger)
    {
        _time = time;
        _scheduler = scheduler;
        _journal = journal;
        _smtp = smtp;
        _logger = logger;
    }

    /// <inheritdoc />
    public IReadOnlyList<QueueEntrySnapshot> List() =>
        _scheduler.Messages.Where(m => !m.IsComplete).OrderBy(m => m.ReceivedAt).ThenBy(m => m.QueueId, StringComparer.Ordinal)
            .Select(Snapshot).ToArray();

    /// <inheritdoc />
    public QueuePage Search(QueueQuery query, int offset, int limit)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        limit = Math.Min(limit, QueueQuery.MaxLimit);
        var text = string.IsNullOrEmpty(query.Text) ? null : query.Text;
        var page = new List<QueueEntrySnapshot>(Math.Min(limit, 64));
        var total = 0;
        // One walk in arrival order: each match is counted, and only those that fall on the page are snapshot.
        foreach (var message in _scheduler.InArrivalOrder)
        {
            if (text is not null && !MatchesText(message, text)) continue;
            if (!HasRecipientIn(message, query.State)) continue;
            if (total >= offset && page.Count < limit)
            {
                var entry = Snapshot(message);
                // Finished between the look and the snapshot: as if it had gone before the search.
                if (query.State is { } state ? !entry.Recipients.Any(r => r.State == state) : !entry.Recipients.Any(r => r.State.IsPending()))
                    continue;
                page.Add(entry);
            }
            total++;
        }
        return new QueuePage(total, page);
    }

    // Id, sender, or any recipient (whose text holds its domain), as the operator types them: case-insensitive.
    private static bool MatchesText(QueuedMessage message, string text)
    {
        if (message.QueueId.Contains(text, StringComparison.OrdinalIgnoreCase)) return true;
        if (AddressContains(message.ReversePath, text)) return true;
        // By index: a foreach over the list interface would allocate an enumerator per message and search.
        var recipients = message.Recipients;
        for (var i = 0; i < recipients.Count; i++)
            if (AddressContains(recipients[i].Address, text)) return true;
        return false;
    }

    /// <summary>
    /// <c>address.ToString().Contains(text)</c>, ignoring case, without building the string: a search walks every
    /// message, and a string per address and search would be garbage by the hundred thousand. A match lies in the local
    /// part, in the domain, or across the <c>@</c> (a suffix of one, then a prefix of the other).
    /// </summary>
    internal static bool AddressContains(SmtpAddress address, string text)
    {
        var local = address.LocalPart;
        var domain = address.Domain;
        // A local part written quoted is rare enough to build the string for.
        if (!IsDotAtom(local)) return address.ToString().Contains(text, StringComparison.OrdinalIgnoreCase);
        if (local.Contains(text, StringComparison.OrdinalIgnoreCase) || domain.Contains(text, StringComparison.OrdinalIgnoreCase)) return true;
        var at = text.IndexOf('@', StringComparison.Ordinal);
        return at >= 0 && domain.Length > 0
            && local.AsSpan().EndsWith(text.AsSpan(0, at), StringComparison.OrdinalIgnoreCase)
            && domain.AsSpan().StartsWith(text.AsSpan(at + 1), StringComparison.OrdinalIgnoreCase);
    }

    // A local part SmtpAddress writes as it is (RFC 5321 Dot-string; UTF-8 allowed): then the address is LOCAL@DOMAIN.
    private static bool IsDotAtom(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal)) return false;
        foreach (var c in local)
            if (c < 0x80 && !char.IsAsciiLetterOrDigit(c) && !"!#$%&'*+-/=?^_`{|}~.".Contains(c)) return false;
        return true;
    }

    // A recipient in the state asked for; with none asked, a recipient still pending (a message finishing now is not listed).
    private static bool HasRecipientIn(QueuedMessage message, QueueRecipientState? state)
    {
        lock (message.Gate)
        {
            foreach (var track in message.Tracks)
            {
                var current = StateOf(track);
                if (state is { } wanted ? current == wanted : current.IsPending()) return true;
            }
        }
        return false;
    }

    /// <inheritdoc />
    public QueueEntrySnapshot? Find(string queueId) =>
        _scheduler.TryGetMessage(queueId, out var message) ? Snapshot(message) : null;

    /// <inheritdoc />
    public Stream? OpenMessage(string queueId) =>
        _scheduler.TryGetMessage(queueId, out var message) ? message.Content.OpenRead() : null;

    /// <inheritdoc />
    public int Flush(string? queueId = null, string? domain = null)
    {
        var wanted = domain;
        bool OfDomain(QueuedMessage message, int index) => wanted is null
            || Domain.NameComparer.Equals(message.Recipients[index].Address.Domain, wanted);
        var removed = _scheduler.TakeScheduled(work =>
            (queueId is null || string.Equals(work.Message.QueueId, queueId, StringComparison.Ordinal))
            && work.Indexes.Any(i => OfDomain(work.Message, i)));
        var due = new List<QueueWork>(removed.Count);
        foreach (var work in removed)
        {
            // A retry item holds a message's recipients that share a next attempt, whatever their domains: a flush for
            // one domain takes only that domain's, and the others (held for another domain, say) keep their time.
            var mine = work.Indexes.Where(i => OfDomain(work.Message, i)).ToArray();
            due.Add(work with { Indexes = mine });
            if (mine.Length < work.Indexes.Length) _scheduler.ScheduleAgain(work with { Indexes = work.Indexes.Except(mine).ToArray() });
        }
        var recipients = due.Sum(w => w.Indexes.Length);
        LogFlushed(queueId ?? "-", domain ?? "-", recipients);
        // An operator's flush means "try now": a destination taken for dead would otherwise defer it unseen, so the
        // circuits close first and the work is released after. The queue is not idle meanwhile.
        var activity = _scheduler.BeginActivity();
        (wanted is null ? _smtp.ResetDestinationsAsync() : _smtp.ResetDestinationsOfAsync(wanted))
            .ContinueWith(_ =>
            {
                foreach (var work in due) _scheduler.ReleaseNow(work, forced: true);
                activity.Dispose();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return recipients;
    }

    /// <inheritdoc />
    public async Task<int> DeleteAsync(string queueId, CancellationToken cancellationToken)
    {
        if (!_scheduler.TryGetMessage(queueId, out var message)) return 0;
        _scheduler.TakeScheduled(w => ReferenceEquals(w.Message, message));
        var removed = await _journal.DeleteAsync(message, cancellationToken).ConfigureAwait(false);
        LogDeleted(queueId, removed);
        _scheduler.Forget(message);
        return removed;
    }

    /// <inheritdoc />
    public async Task<int> HoldAsync(string queueId, CancellationToken cancellationToken)
    {
        if (!_scheduler.TryGetMessage(queueId, out var message)) return 0;
        var held = await _journal.HoldAsync(message, cancellationToken).ConfigureAwait(false);
        // What waited for a retry is dropped: every recipient it named is held now (or final). Work already in the ready
        // queue stays there and finds nothing to claim, since workers take only ready and deferred recipients.
        _scheduler.TakeScheduled(w => ReferenceEquals(w.Message, message));
        LogHeld(queueId, held);
        return held;
    }

    /// <inheritdoc />
    public async Task<int> ReleaseAsync(string queueId, CancellationToken cancellationToken)
    {
        if (!_scheduler.TryGetMessage(queueId, out var message)) return 0;
        var (released, ready) = await _journal.ReleaseAsync(message, cancellationToken).ConfigureAwait(false);
        if (ready.Length > 0) _scheduler.ReleaseNow(new QueueWork(message, ready), forced: false);
        LogReleased(queueId, released);
        return released;
    }

    /// <summary>
    /// TURN (RFC 821): delivers every recipient waiting for a retry whose domain is one of <paramref name="domains"/>
    /// over <paramref name="connection"/>, one transaction per message, and records the outcomes as any delivery does
    /// (journal, DSNs, retry queue). A recipient in delivery elsewhere, or just arrived, keeps its own path (a held one
    /// is deferred and waits for the next TURN), so no recipient ever has two deliveries in flight.
    /// </summary>
    /// <returns>How many recipients the other side accepted.</returns>
    internal async Task<int> DeliverOverAsync(IReadOnlyCollection<string> domains, SmtpClientConnection connection, CancellationToken cancellationToken)
    {
        var wanted = new HashSet<string>(domains, Domain.NameComparer);
        var route = new Route(RouteKind.Remote, "turn:" + connection.Target.HostName);
        var delivered = 0;
        using var activity = _scheduler.BeginActivity();
        foreach (var message in _scheduler.Messages.OrderBy(m => m.ReceivedAt).ToArray())
        {
            if (!connection.IsUsable) break;
            var removed = _scheduler.TakeScheduled(w => ReferenceEquals(w.Message, message));
            int[] candidates;
            lock (message.Gate)
            {
                candidates = removed.SelectMany(w => w.Indexes).Distinct()
                    .Where(i => message.Tracks[i].State == RecipientState.Deferred
                                && wanted.Contains(message.Recipients[i].Address.Domain))
                    .ToArray();
            }
            // What else the retry queue held for this message goes back at its time.
            foreach (var work in removed)
            {
                var rest = work.Indexes.Except(candidates).ToArray();
                if (rest.Length > 0) _scheduler.ScheduleAgain(work with { Indexes = rest });
            }
            if (candidates.Length == 0) continue;
            var claimed = message.Claim(candidates, RecipientState.Active, RecipientState.Deferred);
            if (claimed.Length == 0) continue;
            var pass = DeliveryJournal.Begin(message);
            var request = new DeliveryRequest(message, claimed.Select(i => message.Recipients[i]).ToArray(), route);
            var started = _time.GetTimestamp();
            var outcomes = (await _smtp.DeliverOverAsync(connection, request, cancellationToken).ConfigureAwait(false)).Recipients;
            var duration = _time.GetElapsedTime(started);
            for (var i = 0; i < claimed.Length; i++)
                await _journal.RecordAsync(pass, claimed[i], route, outcomes[i], route.Target, duration, cancellationToken).ConfigureAwait(false);
            delivered += pass.DeliveredCount;
            await _scheduler.CompleteAsync(pass, cancellationToken).ConfigureAwait(false);
        }
        return delivered;
    }

    private static QueueEntrySnapshot Snapshot(QueuedMessage message)
    {
        var recipients = new RecipientSnapshot[message.Tracks.Length];
        lock (message.Gate)
        {
            for (var i = 0; i < recipients.Length; i++)
            {
                var track = message.Tracks[i];
                var state = StateOf(track);
                recipients[i] = new RecipientSnapshot(message.Recipients[i].Address.ToString(), state, track.Attempts,
                    track.State == RecipientState.Deferred ? track.NextAttempt : null, track.LastError);
            }
        }
        return new QueueEntrySnapshot(message.QueueId, message.ReceivedAt, message.Content.Size, message.ReversePath.ToString(), recipients);
    }

    // Called under the message's lock.
    private static QueueRecipientState StateOf(RecipientTrack track) => track.State switch
    {
        RecipientState.Ready => QueueRecipientState.Ready,
        // Held during its delivery: held as far as the operator is concerned.
        RecipientState.Active => track.HoldRequested ? QueueRecipientState.Held : QueueRecipientState.Active,
        RecipientState.Deferred => QueueRecipientState.Deferred,
        RecipientState.Held => QueueRecipientState.Held,
        _ => track.Outcome switch
        {
            RecipientOutcome.Failed => QueueRecipientState.Failed,
            RecipientOutcome.Deleted => QueueRecipientState.Deleted,
            _ => QueueRecipientState.Delivered,
        },
    };

    [LoggerMessage(EventId = LogEvents.QueueAdmin.Held, Level = LogLevel.Warning, Message = "{QueueId}: put on hold by the operator ({Recipients} recipients)")]
    private partial void LogHeld(string queueId, int recipients);

    [LoggerMessage(EventId = LogEvents.QueueAdmin.Released, Level = LogLevel.Information, Message = "{QueueId}: released from hold by the operator ({Recipients} recipients due now)")]
    private partial void LogReleased(string queueId, int recipients);

    [LoggerMessage(EventId = LogEvents.Queue.Flushed, Level = LogLevel.Information, Message = "Queue flush (id={QueueId}, domain={Domain}): {Recipients} recipients due now")]
    private partial void LogFlushed(string queueId, string domain, int recipients);

    [LoggerMessage(EventId = LogEvents.Queue.Deleted, Level = LogLevel.Warning, Message = "{QueueId}: deleted by the operator ({Recipients} recipients not delivered, no DSN)")]
    private partial void LogDeleted(string queueId, int recipients);
}
