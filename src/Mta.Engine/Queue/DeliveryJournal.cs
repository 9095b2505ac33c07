// Records what became of each recipient: counters, log lines, observer hooks, DSNs, the spool's journals, and the next attempt of a deferred one.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Bounces;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

/// <summary>
/// The scheduler's book-keeping of outcomes. A pass (<see cref="Begin"/>) collects the outcomes of some recipients of
/// one message; <see cref="CompleteAsync"/> then spools the DSNs first, journals the outcomes they report on after
/// (a crash in between sends a DSN twice, never not at all), records the deferrals in the retry journal, and returns
/// the deferred recipients grouped by their next attempt for the scheduler's retry queue. A final outcome nobody is
/// told about is journaled at once. A deferred recipient past <see cref="QueueOptions.MaxLifetime"/> fails with
/// <c>4.4.7</c>.
/// </summary>
internal sealed partial class DeliveryJournal
{
    private readonly QueueOptions _queue;
    private readonly SegmentSpool _spool;
    private readonly BounceSender _bounces;
    private readonly HookPipeline _hooks;
    private readonly QueueCounters _counters;
    private readonly RecentDeliveries _recent;
    private readonly DestinationErrors _errors;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Telemetry.MtaMetrics? _metrics;

    public DeliveryJournal(MtaOptions options, SegmentSpool spool, BounceSender bounces, HookPipeline hooks, QueueCounters counters,
        RecentDeliveries recent, DestinationErrors errors, TimeProvider time, ILogger<DeliveryJournal> logger, Telemetry.MtaMetrics? metrics = null)
    {
        _metrics = metrics;
        _recent = recent;
        _errors = errors;
        _queue = options.Queue;
        _spool = spool;
        _bounces = bounces;
        _hooks = hooks;
        _counters = counters;
        _time = time;
        _logger = logger;
    }

    /// <summary>Starts collecting the outcomes of one pass over some recipients of <paramref name="message"/>.</summary>
    public static PassOutcomes Begin(QueuedMessage message) => new(message);

    /// <summary>Records one recipient's outcome of this pass: observers, counters, and what to journal and report at its end.</summary>
    /// <param name="pass">The pass.</param>
    /// <param name="index">The recipient's index in the message.</param>
    /// <param name="route">The route it was delivered on (or refused on), or null when the route hook decided.</param>
    /// <param name="outcome">What became of it.</param>
    /// <param name="destination">The destination the attempt went to (<see cref="DeliveryRoute.Destination"/>), or null
    /// when a hook decided before a route was chosen.</param>
    /// <param name="duration">How long the agent took; zero when no agent was called.</param>
    /// <param name="cancellationToken">Cancelled when the server stops.</param>
    public async Task RecordAsync(PassOutcomes pass, int index, Route? route, DeliveryOutcome outcome, string? destination, TimeSpan duration,
        CancellationToken cancellationToken)
    {
        var message = pass.Message;
        var recipient = message.Recipients[index];
        var now = _time.GetUtcNow();
        var routeKind = route is null ? "hook" : Telemetry.MtaMetrics.RouteKindName(route.Kind);
        if (outcome.Status == DeliveryStatus.Deferred)
        {
            if (!RetryPolicy.IsExpired(message.ReceivedAt, now, _queue))
            {
                _metrics?.DeliveryAttempt("deferred", routeKind);
                Observe(message, recipient, routeKind, outcome, "deferred", destination, duration, now);
                await DeferAsync(pass, index, route, outcome, destination, now, cancellationToken).ConfigureAwait(false);
                return;
            }
            // RFC 3464 keeps the 4.4.7 of an expired message even though the action is "failed".
            outcome = new DeliveryOutcome(DeliveryStatus.Failed, "4.4.7",
                $"4.4.7 message expired after {_queue.MaxLifetime} in the queue; last error: {outcome.Detail}")
            {
                RemoteReply = outcome.RemoteReply,
                RemoteHost = outcome.RemoteHost,
            };
        }

        _metrics?.DeliveryAttempt(Telemetry.MtaMetrics.OutcomeName(outcome.Status), routeKind);
        Observe(message, recipient, routeKind, outcome, outcome.Status == DeliveryStatus.Delivered ? "delivered" : "failed", destination, duration, now);
        if (outcome.Status == DeliveryStatus.Delivered)
        {
            pass.DeliveredCount++;
            _counters.CountDelivered();
            if (_logger.IsEnabled(LogLevel.Information))
            {
                LogDelivered(message.QueueId, recipient.Address.ToString(), OrigTo(recipient), KindOf(route), TargetOf(route), RelayOf(route, outcome),
                    DelayOf(message, now), outcome.EnhancedStatus, "delivered", outcome.Detail);
            }
            await _hooks.NotifyAsync(new DeliveredContext(message, recipient, route ?? new Route(RouteKind.Discard, "hook"), outcome.Detail),
                cancellationToken).ConfigureAwait(false);
            var action = SuccessAction(outcome.Notice);
            var reported = action is { } a && _bounces.IsDue(message, recipient, a);
            if (reported) pass.Reports.Add((index, Report(recipient, action!.Value, outcome, now)));
            pass.Finals.Add((index, RecipientOutcome.Delivered, outcome.Detail, reported));
        }
        else
        {
            _counters.CountBounced();
            if (_logger.IsEnabled(LogLevel.Warning))
            {
                LogBounced(message.QueueId, recipient.Address.ToString(), OrigTo(recipient), KindOf(route), TargetOf(route), RelayOf(route, outcome),
                    DelayOf(message, now), outcome.EnhancedStatus, "bounced", outcome.Detail);
            }
            await _hooks.NotifyAsync(new BouncedContext(message, recipient, outcome.Detail), cancellationToken).ConfigureAwait(false);
            var reported = _bounces.IsDue(message, recipient, DsnAction.Failed);
            if (reported) pass.Reports.Add((index, Report(recipient, DsnAction.Failed, outcome, now)));
            pass.Finals.Add((index, RecipientOutcome.Failed, outcome.Detail, reported));
        }
        await JournalFinalsAsync(pass, reportedOnly: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The operator's views of an attempt: the recent-deliveries ring, and the destination's last error.</summary>
    private void Observe(QueuedMessage message, EnvelopeRecipient recipient, string routeKind, DeliveryOutcome outcome, string result,
        string? destination, TimeSpan duration, DateTimeOffset now)
    {
        // The route kind as the delivery metrics tag it, so the console's list and the dashboards agree.
        _recent.Add(new Status.DeliveryRecord(now, message.QueueId, recipient.Address.ToString(), result, routeKind, destination, outcome.Detail, duration));
        if (destination is not null && outcome.Status != DeliveryStatus.Delivered) _errors.Record(destination, outcome.Detail, now);
    }

    private async Task DeferAsync(PassOutcomes pass, int index, Route? route, DeliveryOutcome outcome, string? destination, DateTimeOffset now,
        CancellationToken ct)
    {
        var message = pass.Message;
        var recipient = message.Recipients[index];
        var next = RetryPolicy.NextAttempt(message.ReceivedAt, now, _queue);
        DeferralRecord record;
        var warn = false;
        lock (message.Gate)
        {
            var track = message.Tracks[index];
            track.Attempts++;
            track.LastError = outcome.Detail;
            if (destination is not null) track.Destination = destination;
            track.NextAttempt = next;
            if (!track.DelayWarned && RetryPolicy.IsDelayWarningDue(message.ReceivedAt, now, _queue)
                && _bounces.IsDue(message, recipient, DsnAction.Delayed))
            {
                track.DelayWarned = warn = true;
            }
            record = new DeferralRecord(track.Attempts, next, track.DelayWarned, track.LastError);
        }
        pass.Deferrals.Add((index, record));
        if (warn) pass.Reports.Add((index, Report(recipient, DsnAction.Delayed, outcome, now)));
        _counters.CountDeferred();
        if (_logger.IsEnabled(LogLevel.Information))
        {
            LogDeferred(message.QueueId, recipient.Address.ToString(), OrigTo(recipient), KindOf(route), TargetOf(route), RelayOf(route, outcome),
                DelayOf(message, now), outcome.EnhancedStatus, "deferred", outcome.Detail, next);
        }
        await _hooks.NotifyAsync(new DeferredContext(message, recipient, outcome.Detail, next), ct).ConfigureAwait(false);
    }

    private static DsnAction? SuccessAction(SuccessNotice notice) => notice switch
    {
        SuccessNotice.Delivered => DsnAction.Delivered,
        SuccessNotice.Relayed => DsnAction.Relayed,
        SuccessNotice.Expanded => DsnAction.Expanded,
        _ => null,
    };

    private static DsnRecipient Report(EnvelopeRecipient recipient, DsnAction action, DeliveryOutcome outcome, DateTimeOffset now)
    {
        // Remote-MTA names the host, not the address and port the log shows.
        var host = outcome.RemoteHost is { } h ? h.Split('[')[0] : null;
        // Will-Retry-Until of a delay report is filled in with the message's expiry when the DSN is sent.
        return new DsnRecipient(recipient, action, outcome.EnhancedStatus, outcome.RemoteReply, outcome.Detail, host, now, null);
    }

    /// <summary>
    /// End of a pass: DSNs first (spooled), then the outcomes they report on, then the retry journal. Returns the
    /// deferred recipients (now in state Deferred) grouped by their next attempt, for the scheduler's retry queue.
    /// </summary>
    public async Task<IReadOnlyList<(DateTimeOffset At, int[] Indexes)>> CompleteAsync(PassOutcomes pass, CancellationToken cancellationToken)
    {
        var message = pass.Message;
        foreach (var group in pass.Reports.GroupBy(r => r.Report.Action))
        {
            var reports = group.Select(g => g.Report).ToArray();
            if (group.Key == DsnAction.Delayed)
                reports = reports.Select(r => r with { WillRetryUntil = RetryPolicy.ExpiresAt(message.ReceivedAt, _queue) }).ToArray();
            try
            {
                await _bounces.SendAsync(message, reports, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                LogDsnFailed(ex, message.QueueId);
                // A success or delay notice is best effort: delivering the message again to retry it would be worse.
                if (group.Key is not DsnAction.Failed) continue;
                // A failure notice must not be lost: its recipients stay in the queue, fail again later and then retry it.
                foreach (var (index, _) in group)
                {
                    pass.Finals.RemoveAll(f => f.Index == index);
                    var next = _time.GetUtcNow() + _queue.MinRetryDelay;
                    lock (message.Gate)
                    {
                        var track = message.Tracks[index];
                        track.NextAttempt = next;
                        track.LastError = "could not queue the delivery status notification: " + ex.Message;
                        pass.Deferrals.Add((index, new DeferralRecord(track.Attempts, next, track.DelayWarned, track.LastError)));
                    }
                }
            }
        }
        await JournalFinalsAsync(pass, reportedOnly: true, cancellationToken).ConfigureAwait(false);
        if (pass.Deferrals.Count == 0) return [];

        // The entries are queued under the message's lock, so they reach the journal in the order of the state changes
        // they record: a hold racing with this pass is journaled after this deferral (and wins on disk) or before it,
        // and then this entry already says held. The recipients turn Deferred only once their entries are durable, as
        // they always did; a recipient held meanwhile is no longer Active, stays held and is not rescheduled.
        var writes = new List<Task>(pass.Deferrals.Count);
        lock (message.Gate)
        {
            foreach (var (index, record) in pass.Deferrals)
            {
                var track = message.Tracks[index];
                if (track.State == RecipientState.Final) continue;
                writes.Add(_spool.RecordDeferral(message.Location, index, track.ToRecord(record.NextAttempt)));
            }
        }
        foreach (var write in writes)
        {
            try
            {
                await write.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The spool logged it; only the schedule is at stake: after a restart the recipient is tried at once.
            }
        }
        var retries = new Dictionary<DateTimeOffset, List<int>>();
        lock (message.Gate)
        {
            foreach (var (index, record) in pass.Deferrals)
            {
                var track = message.Tracks[index];
                if (track.State != RecipientState.Active) continue;
                if (track.HoldRequested)
                {
                    // Held during this attempt: held now, not rescheduled.
                    track.HoldRequested = false;
                    track.State = RecipientState.Held;
                    continue;
                }
                track.State = RecipientState.Deferred;
                if (!retries.TryGetValue(record.NextAttempt, out var list)) retries[record.NextAttempt] = list = [];
                list.Add(index);
            }
        }
        return [.. retries.Select(r => (r.Key, r.Value.ToArray()))];
    }

    /// <summary>
    /// Puts every recipient of <paramref name="message"/> not yet final on hold and journals it; a recipient in delivery
    /// now is held too (its delivery ends as it ends; a deferral then keeps it held). Returns how many were held.
    /// </summary>
    public async Task<int> HoldAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        var writes = new List<Task>();
        var now = _time.GetUtcNow();
        lock (message.Gate)
        {
            for (var i = 0; i < message.Tracks.Length; i++)
            {
                var track = message.Tracks[i];
                if (track.State is RecipientState.Final or RecipientState.Held || track.HoldRequested) continue;
                // One in delivery keeps its state until that delivery ends: no second one can start meanwhile.
                if (track.State == RecipientState.Active) track.HoldRequested = true;
                else track.State = RecipientState.Held;
                writes.Add(_spool.RecordDeferral(message.Location, i, track.ToRecord(track.NextAttempt ?? now)));
            }
        }
        await AwaitJournalAsync(writes, cancellationToken).ConfigureAwait(false);
        return writes.Count;
    }

    /// <summary>
    /// Makes the held recipients of <paramref name="message"/> ready, journaled as due now so a restart does not wait for
    /// their old schedule; one held while in delivery just goes on with it. Returns how many were released and the
    /// indexes the caller hands to the ready queue.
    /// </summary>
    public async Task<(int Released, int[] Ready)> ReleaseAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        var writes = new List<Task>();
        var ready = new List<int>();
        var now = _time.GetUtcNow();
        lock (message.Gate)
        {
            for (var i = 0; i < message.Tracks.Length; i++)
            {
                var track = message.Tracks[i];
                if (track.State == RecipientState.Held)
                {
                    track.State = RecipientState.Ready;
                    track.NextAttempt = null;
                    ready.Add(i);
                }
                else if (track.HoldRequested && track.State == RecipientState.Active)
                {
                    track.HoldRequested = false;
                }
                else
                {
                    continue;
                }
                writes.Add(_spool.RecordDeferral(message.Location, i, track.ToRecord(now)));
            }
        }
        await AwaitJournalAsync(writes, cancellationToken).ConfigureAwait(false);
        return (writes.Count, [.. ready]);
    }

    // A hold or release that cannot be journaled fails loudly: the operator must not believe a hold survives a restart.
    private static async Task AwaitJournalAsync(List<Task> writes, CancellationToken cancellationToken)
    {
        foreach (var write in writes) await write.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes every recipient not yet final of <paramref name="message"/> final as deleted (no DSN), as postsuper -d.</summary>
    /// <returns>How many recipients were removed.</returns>
    public async Task<int> DeleteAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        var removed = 0;
        for (var i = 0; i < message.Tracks.Length; i++)
        {
            // A recipient in delivery right now is made final here; its delivery's outcome is then ignored.
            if (!message.TryMakeFinal(i, RecipientOutcome.Deleted, "deleted by the operator")) continue;
            removed++;
            await MarkFinalAsync(message, i, RecipientOutcome.Deleted, cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    private async Task JournalFinalsAsync(PassOutcomes pass, bool reportedOnly, CancellationToken ct)
    {
        var message = pass.Message;
        for (var i = pass.Finals.Count - 1; i >= 0; i--)
        {
            var (index, outcome, text, reported) = pass.Finals[i];
            if (reported && !reportedOnly) continue;
            pass.Finals.RemoveAt(i);
            if (!message.TryMakeFinal(index, outcome, text)) continue;
            await MarkFinalAsync(message, index, outcome, ct).ConfigureAwait(false);
        }
    }

    private async Task MarkFinalAsync(QueuedMessage message, int index, RecipientOutcome outcome, CancellationToken ct)
    {
        try
        {
            await _spool.MarkFinalAsync(message.Location, index, outcome, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The spool logged it; the outcome stands in memory, and a restart may deliver this recipient again.
        }
        _counters.RecipientFinal();
    }

    /// <summary>
    /// <c> orig_to=&lt;address&gt;</c> when the recipient's ORCPT names another address than its own (an alias's
    /// forwarded copy, a rewritten recipient), as Postfix logs it; else empty, so the line keeps its usual keys.
    /// </summary>
    internal static string OrigTo(EnvelopeRecipient recipient)
    {
        if (recipient.OriginalRecipient is not { Length: > 0 } orcpt) return "";
        var semi = orcpt.IndexOf(';', StringComparison.Ordinal);
        var original = (semi >= 0 ? orcpt[(semi + 1)..] : orcpt).Trim();
        return original.Length == 0 || string.Equals(original, recipient.Address.ToString(), StringComparison.OrdinalIgnoreCase)
            ? "" : " orig_to=<" + original + ">";
    }

    /// <summary>The route's kind as the trail names it (<c>remote</c>, <c>mailbox</c>, ...); <c>hook</c> when the route
    /// hook decided (or routing failed) before any route was chosen, as the metrics' <c>route_kind</c> names it.</summary>
    internal static string KindOf(Route? route) => route is null ? "hook" : Telemetry.MtaMetrics.RouteKindName(route.Kind);

    /// <summary>The route's target (a domain, a mailbox, an agent's name), <c>-</c> without a route.</summary>
    internal static string TargetOf(Route? route) => route?.Target ?? "-";

    /// <summary>
    /// Postfix's <c>relay=</c>: the host that answered (<c>mx.example[192.0.2.1]:25</c>); <c>none</c> when a remote
    /// delivery reached no host (the reason is in the detail); for a delivery that involves no other host, the kind of
    /// route, as Postfix writes <c>relay=local</c>.
    /// </summary>
    internal static string RelayOf(Route? route, DeliveryOutcome outcome) =>
        outcome.RemoteHost ?? (route is null || route.Kind == RouteKind.Remote ? "none" : KindOf(route));

    /// <summary>Postfix's <c>delay=</c>: seconds from the message's arrival to this outcome, to the hundredth.</summary>
    internal static double DelayOf(QueuedMessage message, DateTimeOffset now) =>
        Math.Round(Math.Max(0, (now - message.ReceivedAt).TotalSeconds), 2);

    // One line per recipient outcome, as Postfix's "to=<...>, relay=..., delay=..., dsn=..., status=..." line: the keys
    // a grep for the queue id shows, and the same fields as properties in the json format.
    [LoggerMessage(EventId = LogEvents.Queue.Delivered, Level = LogLevel.Information,
        Message = "{QueueId}: to=<{Recipient}>{OrigTo} route={RouteKind}:{RouteTarget} relay={Relay} delay={Delay} dsn={Dsn} result={Result} ({Detail})")]
    private partial void LogDelivered(string queueId, string recipient, string origTo, string routeKind, string routeTarget, string relay,
        double delay, string dsn, string result, string detail);

    [LoggerMessage(EventId = LogEvents.Queue.Deferred, Level = LogLevel.Information,
        Message = "{QueueId}: to=<{Recipient}>{OrigTo} route={RouteKind}:{RouteTarget} relay={Relay} delay={Delay} dsn={Dsn} result={Result} ({Detail}), next attempt {NextAttempt:O}")]
    private partial void LogDeferred(string queueId, string recipient, string origTo, string routeKind, string routeTarget, string relay,
        double delay, string dsn, string result, string detail, DateTimeOffset nextAttempt);

    [LoggerMessage(EventId = LogEvents.Queue.Bounced, Level = LogLevel.Warning,
        Message = "{QueueId}: to=<{Recipient}>{OrigTo} route={RouteKind}:{RouteTarget} relay={Relay} delay={Delay} dsn={Dsn} result={Result} ({Detail})")]
    private partial void LogBounced(string queueId, string recipient, string origTo, string routeKind, string routeTarget, string relay,
        double delay, string dsn, string result, string detail);

    [LoggerMessage(EventId = LogEvents.Queue.DsnFailed, Level = LogLevel.Error, Message = "{QueueId}: the delivery status notification could not be queued; its recipients stay in the queue")]
    private partial void LogDsnFailed(Exception exception, string queueId);
}

/// <summary>What one pass decided, kept until its end so DSNs are spooled before the outcomes they report.</summary>
internal sealed class PassOutcomes(QueuedMessage message)
{
    public QueuedMessage Message { get; } = message;
    public List<(int Index, RecipientOutcome Outcome, string Text, bool Reported)> Finals { get; } = [];
    public List<(int Index, DsnRecipient Report)> Reports { get; } = [];
    public List<(int Index, DeferralRecord Record)> Deferrals { get; } = [];


    /// <summary>Recipients delivered in this pass (TURN counts them for its reply).</summary>
    public int DeliveredCount { get; set; }
}
