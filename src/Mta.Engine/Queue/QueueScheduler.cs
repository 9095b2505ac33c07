// The queue's scheduler: committed messages in from the spool's channel, ready and retry queues, per-destination windows, deliveries through the router and the agents.
using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;
using Mta.Engine.Spool;
using Mta.Engine.Telemetry;

namespace Mta.Engine.Queue;

/// <summary>
/// The queue manager, shaped like Postfix's qmgr. It reads every committed message from the spool's channel (and the
/// recovered ones at start), keeps due work in a two-lane <see cref="ReadyQueue{T}"/> (new mail and due retries, so
/// neither starves) and deferred work in a <see cref="RetrySchedule{T}"/>. <see cref="QueueOptions.DeliveryConcurrency"/>
/// workers take ready work: the <see cref="Router"/> gives each recipient a typed route (or a hook's outcome), the
/// recipients of a message that share a route go to its agent in one <see cref="DeliveryRequest"/>, within their
/// destination's concurrency window (<see cref="DestinationWindows{T}"/>), and the <see cref="DeliveryJournal"/>
/// records each recipient's outcome.
/// </summary>
public sealed partial class QueueScheduler : BackgroundService
{
    private readonly QueueOptions _queue;
    private readonly SegmentSpool _spool;
    private readonly Router _router;
    private readonly DeliveryJournal _journal;
    private readonly QueueCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ReadyQueue<QueueWork> _ready;
    private readonly RetrySchedule<QueueWork> _schedule;
    private readonly DestinationWindows<QueueWork> _windows = new();
    private readonly ConcurrentDictionary<string, QueuedMessage> _messages = new(StringComparer.Ordinal);
    // The same messages in arrival order, for the operator's searches (oldest first without a sort).
    private readonly ArrivalOrder _arrivals = new();
    // Work taken in but not finished: being taken from the spool, ready, in a worker, or waiting for a destination's
    // slot. Starts at one for the recovery at start-up, so the queue is not idle before recovered mail is queued.
    private int _inFlight = 1;
    private readonly MtaMetrics? _metrics;
    private readonly ReceivedSpans? _receivedSpans;

    internal QueueScheduler(MtaOptions options, SegmentSpool spool, Router router, DeliveryJournal journal, QueueCounters counters,
        TimeProvider time, ILogger<QueueScheduler> logger, MtaMetrics? metrics = null, ReceivedSpans? receivedSpans = null)
    {
        _metrics = metrics;
        _receivedSpans = receivedSpans;
        metrics?.ObserveQueue(Levels);
        _queue = options.Queue;
        _spool = spool;
        _router = router;
        _journal = journal;
        _counters = counters;
        _time = time;
        _logger = logger;
        _ready = new ReadyQueue<QueueWork>(_queue.DeferredShare);
        _schedule = new RetrySchedule<QueueWork>(time, work => MakeReady(work, retry: true));
    }

    /// <summary>Recipients without a final outcome (queued, in delivery, or waiting for a retry).</summary>
    public long PendingRecipients => _counters.PendingRecipients;

    /// <summary>Deferred work items (a message's recipients that share a next attempt) waiting for their time.</summary>
    public int ScheduledRetries => _schedule.Count;

    /// <summary>Totals since start: delivered, bounced (permanent failures), deferred attempts.</summary>
    public (long Delivered, long Bounced, long Deferred) Totals => _counters.Totals;

    /// <summary>
    /// True when nothing is to be done now: no committed message waits to be taken in, no work is ready, in delivery
    /// or waiting for a destination's slot; every pending recipient waits for its retry. False until the recovered
    /// mail is queued at start. A message whose commit has returned is already counted.
    /// </summary>
    // The channel is read before the counter: the intake counts a message in before it takes it out of the channel.
    public bool IsIdle => _spool.Committed.Count == 0 && Volatile.Read(ref _inFlight) == 0;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IReadOnlyList<SpooledMessage> recovered;
        try
        {
            recovered = await _spool.RecoverAsync(stoppingToken).ConfigureAwait(false);
            foreach (var message in recovered) Enqueue(message);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
        LogStarted(recovered.Count, PendingRecipients, _schedule.Count, _queue.DeliveryConcurrency);
        var tasks = new Task[_queue.DeliveryConcurrency + 1];
        tasks[0] = Task.Run(() => IntakeAsync(stoppingToken), CancellationToken.None);
        for (var i = 1; i < tasks.Length; i++) tasks[i] = Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None);
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _schedule.Dispose();
    }

    public override void Dispose()
    {
        _schedule.Dispose();
        base.Dispose();
    }

    /// <summary>Takes committed messages from the spool's channel, on this task rather than on the spool's writer thread.</summary>
    private async Task IntakeAsync(CancellationToken stoppingToken)
    {
        var committed = _spool.Committed;
        try
        {
            while (await committed.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                while (true)
                {
                    // Counted before it leaves the channel, so IsIdle never sees it in neither place.
                    Interlocked.Increment(ref _inFlight);
                    if (!committed.TryRead(out var message))
                    {
                        Interlocked.Decrement(ref _inFlight);
                        break;
                    }
                    try
                    {
                        Enqueue(message);
                    }
                    catch (Exception ex)
                    {
                        LogIntakeFailed(ex, message.Envelope.QueueId);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _inFlight);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is left in the channel is on disk and is recovered at the next start.
        }
    }

    /// <summary>Takes in a committed (or recovered) message: due recipients become ready, deferred ones wait for their time.</summary>
    private void Enqueue(SpooledMessage spooled)
    {
        var message = new QueuedMessage(spooled, _spool);
        _messages[message.QueueId] = message;
        _arrivals.Add(message);
        var now = _time.GetUtcNow();
        var ready = new List<int>();
        var later = new Dictionary<DateTimeOffset, List<int>>();
        var held = 0;
        lock (message.Gate)
        {
            for (var i = 0; i < message.Tracks.Length; i++)
            {
                var track = message.Tracks[i];
                if (track.State == RecipientState.Final) continue;
                _counters.RecipientPending();
                if (track.State == RecipientState.Held)
                {
                    // Held before a restart: it waits for the operator's release, in no queue.
                    held++;
                }
                else if (track.NextAttempt is { } next && next > now)
                {
                    track.State = RecipientState.Deferred;
                    if (!later.TryGetValue(next, out var list)) later[next] = list = [];
                    list.Add(i);
                }
                else
                {
                    track.State = RecipientState.Ready;
                    ready.Add(i);
                }
            }
        }
        if (ready.Count > 0) MakeReady(new QueueWork(message, [.. ready]), retry: spooled.Deferrals is not null);
        foreach (var (at, indexes) in later) _schedule.Add(new QueueWork(message, [.. indexes]), at);
        if (ready.Count == 0 && later.Count == 0 && held == 0) Forget(message);
    }

    private void MakeReady(QueueWork work, bool retry)
    {
        Interlocked.Increment(ref _inFlight);
        if (retry) _ready.EnqueueRetry(work);
        else _ready.EnqueueFresh(work);
    }

    private async Task WorkerAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            QueueWork work;
            try
            {
                work = await _ready.DequeueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await ProcessAsync(work, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Not journaled: the recipients are still pending in the spool and are delivered after the restart.
                return;
            }
            catch (Exception ex)
            {
                LogWorkerFailed(ex, work.Message.QueueId);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    /// <summary>One pass over some recipients of one message: route them, deliver per route, record the outcomes.</summary>
    private async Task ProcessAsync(QueueWork work, CancellationToken ct)
    {
        var message = work.Message;
        var pass = DeliveryJournal.Begin(message);
        if (work.Route is { } woken)
        {
            // Woken from its destination's wait with the slot handed over: routing and the deliver hook already ran.
            await DeliverInWindowAsync(pass, woken, work.Indexes, ct).ConfigureAwait(false);
        }
        else
        {
            var indexes = message.Claim(work.Indexes, RecipientState.Active, RecipientState.Ready, RecipientState.Deferred);
            var byRoute = new Dictionary<(string, string), (DeliveryRoute Route, List<int> Indexes)>();
            foreach (var index in indexes)
            {
                var recipient = message.Recipients[index];
                RoutingDecision decision;
                try
                {
                    decision = await _router.RouteAsync(message, recipient, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception ex)
                {
                    // Whatever broke (a hook bug, the terminal registry) may be gone next time: never a bounce.
                    LogAttemptFailed(ex, message.QueueId, recipient.Address.ToString());
                    decision = new RoutingDecision(null, DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message), null);
                }
                if (decision.Route is { } route)
                {
                    var key = (route.Destination, route.Route.Target);
                    if (!byRoute.TryGetValue(key, out var group)) byRoute[key] = group = (route, []);
                    group.Indexes.Add(index);
                }
                else
                {
                    await _journal.RecordAsync(pass, index, decision.HookRoute, decision.Outcome!, null, TimeSpan.Zero, ct).ConfigureAwait(false);
                }
            }
            foreach (var (route, group) in byRoute.Values)
                await DispatchAsync(pass, route, [.. group], work.Forced, ct).ConfigureAwait(false);
        }
        await CompleteAsync(pass, ct).ConfigureAwait(false);
    }

    /// <summary>Delivers now when the destination has a free slot; otherwise the work waits in its todo list, holding no worker.</summary>
    private async Task DispatchAsync(PassOutcomes pass, DeliveryRoute route, int[] indexes, bool forced, CancellationToken ct)
    {
        if (route.Held && !forced)
        {
            // A held domain (we are its backup MX) waits for its server to ask: ETRN flushes it, TURN takes it.
            var held = DeliveryOutcome.Deferred("4.3.2", $"4.3.2 held for {route.Hop!.Name} until it asks with ETRN or TURN");
            foreach (var index in indexes) await _journal.RecordAsync(pass, index, route.Route, held, route.Destination, TimeSpan.Zero, ct).ConfigureAwait(false);
            return;
        }
        var waiting = new QueueWork(pass.Message, indexes, forced) { Route = route };
        // Counted in flight before it can be seen in the todo list: a slot freed at once hands it to the ready queue.
        Interlocked.Increment(ref _inFlight);
        if (!_windows.TryAcquireOrWait(route.Destination, route.Window, waiting)) return;
        Interlocked.Decrement(ref _inFlight);
        await DeliverInWindowAsync(pass, route, indexes, ct).ConfigureAwait(false);
    }

    /// <summary>Runs one delivery holding a slot of the route's destination, then hands the slot to the next waiting work.</summary>
    private async Task DeliverInWindowAsync(PassOutcomes pass, DeliveryRoute route, int[] indexes, CancellationToken ct)
    {
        try
        {
            await DeliverAsync(pass, route, indexes, ct).ConfigureAwait(false);
        }
        finally
        {
            // The waiting work was counted in flight when it started waiting; that count goes with it to the ready queue.
            if (_windows.Release(route.Destination, out var next)) _ready.EnqueueFresh(next);
        }
    }

    /// <summary>One request to the route's agent for the recipients still active, and their outcomes recorded.</summary>
    internal async Task DeliverAsync(PassOutcomes pass, DeliveryRoute route, int[] indexes, CancellationToken ct)
    {
        var message = pass.Message;
        lock (message.Gate)
        {
            var going = new List<int>(indexes.Length);
            foreach (var i in indexes)
            {
                var track = message.Tracks[i];
                if (track.State != RecipientState.Active) continue;
                if (track.HoldRequested)
                {
                    // Put on hold while it was routed or waited for a slot: held before it goes out.
                    track.HoldRequested = false;
                    track.State = RecipientState.Held;
                    continue;
                }
                going.Add(i);
            }
            indexes = [.. going];
        }
        if (indexes.Length == 0) return;
        var request = new DeliveryRequest(message, indexes.Select(i => message.Recipients[i]).ToArray(), route.Route);
        IReadOnlyList<DeliveryOutcome>? outcomes;
        var routeKind = MtaMetrics.RouteKindName(route.Route.Kind);
        var span = DeliverySpans.Start(message.QueueId, routeKind, route.Destination, indexes.Length, _receivedSpans);
        var started = _time.GetTimestamp();
        try
        {
            outcomes = (await route.Agent.DeliverAsync(request, ct).ConfigureAwait(false))?.Recipients;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // The agents turn their failures into outcomes; an exception here is a bug, and a bug never bounces mail.
            LogAttemptFailed(ex, message.QueueId, route.Route.Target);
            outcomes = request.ForAll(DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message)).Recipients;
        }
        if (outcomes is null || outcomes.Count != indexes.Length)
        {
            outcomes = request.ForAll(DeliveryOutcome.Deferred("4.3.0",
                $"4.3.0 {route.Route.Kind.ToString().ToLowerInvariant()}:{route.Route.Target} gave {outcomes?.Count ?? 0} outcomes for {indexes.Length} recipients")).Recipients;
        }
        var duration = _time.GetElapsedTime(started);
        if (span is not null || _metrics?.DeliveryDurationEnabled == true)
        {
            var (outcome, detail) = AttemptOutcome(outcomes);
            _metrics?.DeliveryDuration(duration, outcome, routeKind);
            DeliverySpans.End(span, outcome, detail);
        }
        for (var i = 0; i < indexes.Length; i++)
            await _journal.RecordAsync(pass, indexes[i], route.Route, outcomes[i] ?? DeliveryOutcome.Deferred("4.3.0", "4.3.0 no outcome"),
                route.Destination, duration, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// One attempt's outcome for its duration and span: deferred when any recipient was deferred (the attempt must be
    /// made again), else failed when any failed, else delivered. The detail is the first non-delivered recipient's.
    /// </summary>
    private static (string Outcome, string? Detail) AttemptOutcome(IReadOnlyList<DeliveryOutcome?> outcomes)
    {
        string? deferred = null, failed = null;
        foreach (var outcome in outcomes)
        {
            if (outcome is null || outcome.Status == DeliveryStatus.Deferred) deferred ??= outcome?.Detail ?? "no outcome";
            else if (outcome.Status != DeliveryStatus.Delivered) failed ??= outcome.Detail;
        }
        return deferred is not null ? ("deferred", deferred) : failed is not null ? ("failed", failed) : ("delivered", null);
    }

    /// <summary>End of a pass: the journal spools DSNs and outcomes; deferred recipients go to the retry queue.</summary>
    internal async Task CompleteAsync(PassOutcomes pass, CancellationToken ct)
    {
        var message = pass.Message;
        foreach (var (at, indexes) in await _journal.CompleteAsync(pass, ct).ConfigureAwait(false))
            _schedule.Add(new QueueWork(message, indexes), at);
        if (message.IsComplete) Forget(message);
    }

    /// <summary>Recipients by state and the oldest message's age, for the queue gauges (one pass over the queue).</summary>
    internal QueueLevels Levels()
    {
        long ready = 0, active = 0, deferred = 0, held = 0;
        DateTimeOffset? oldest = null;
        foreach (var message in _messages.Values)
        {
            var pending = false;
            lock (message.Gate)
            {
                foreach (var track in message.Tracks)
                {
                    switch (track.State)
                    {
                        case RecipientState.Ready: ready++; pending = true; break;
                        case RecipientState.Active: active++; pending = true; break;
                        case RecipientState.Deferred: deferred++; pending = true; break;
                        case RecipientState.Held: held++; pending = true; break;
                    }
                }
            }
            if (pending && (oldest is null || message.ReceivedAt < oldest)) oldest = message.ReceivedAt;
        }
        var age = oldest is { } at ? Math.Max(0, (_time.GetUtcNow() - at).TotalSeconds) : 0;
        return new QueueLevels(ready, active, deferred, held, age);
    }

    // What the operator's commands and TURN need: the messages, the retry queue, and work released on demand.

    /// <summary>Messages with recipients not yet final.</summary>
    internal IEnumerable<QueuedMessage> Messages => _messages.Values;

    internal bool TryGetMessage(string queueId, out QueuedMessage message) => _messages.TryGetValue(queueId, out message!);

    internal void Forget(QueuedMessage message)
    {
        // Only this message: a new one that took its id meanwhile stays. Logged once: a pass that completes the
        // message after the operator deleted it finds it gone.
        if (_messages.TryRemove(new KeyValuePair<string, QueuedMessage>(message.QueueId, message))) MessageTrail.Removed(_logger, message);
        _arrivals.Remove(message);
        _receivedSpans?.Remove(message.QueueId);
    }

    /// <summary>Messages with recipients not yet final, oldest first, walked without a lock or a copy.</summary>
    internal IEnumerable<QueuedMessage> InArrivalOrder => _arrivals.Walk();

    /// <summary>How many messages are queued (with recipients not yet final, give or take one finishing now).</summary>
    internal int MessageCount => _arrivals.Count;

    /// <summary>Takes the matching work out of the retry queue.</summary>
    internal List<QueueWork> TakeScheduled(Func<QueueWork, bool> match) => _schedule.RemoveWhere(match);

    /// <summary>Puts recipients taken out of the retry queue back in it, at their own next attempt.</summary>
    internal void ScheduleAgain(QueueWork work)
    {
        DateTimeOffset at;
        lock (work.Message.Gate) at = work.Indexes.Select(i => work.Message.Tracks[i].NextAttempt ?? _time.GetUtcNow()).Min();
        _schedule.Add(work, at);
    }

    /// <summary>Makes work due now in the retry lane; <paramref name="forced"/> work goes to held destinations too.</summary>
    internal void ReleaseNow(QueueWork work, bool forced) => MakeReady(work with { Forced = forced }, retry: true);

    /// <summary>Keeps the queue from looking idle while an operator's action or a TURN is under way.</summary>
    internal Activity BeginActivity()
    {
        Interlocked.Increment(ref _inFlight);
        return new Activity(this);
    }

    /// <summary>The end of <see cref="BeginActivity"/>.</summary>
    internal readonly struct Activity(QueueScheduler scheduler) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref scheduler._inFlight);
    }

    [LoggerMessage(EventId = LogEvents.Queue.Started, Level = LogLevel.Information, Message = "Queue started: {Messages} recovered messages, {Recipients} pending recipients ({Scheduled} waiting for a retry), {Workers} delivery workers")]
    private partial void LogStarted(int messages, long recipients, int scheduled, int workers);

    [LoggerMessage(EventId = LogEvents.Queue.AttemptFailed, Level = LogLevel.Error, Message = "{QueueId}: delivery attempt to <{Recipient}> failed; will retry")]
    private partial void LogAttemptFailed(Exception exception, string queueId, string recipient);

    [LoggerMessage(EventId = LogEvents.Queue.WorkerFailed, Level = LogLevel.Error, Message = "{QueueId}: queue worker failed")]
    private partial void LogWorkerFailed(Exception exception, string queueId);

    [LoggerMessage(EventId = LogEvents.Queue.IntakeFailed, Level = LogLevel.Error, Message = "{QueueId}: the queue could not take in the committed message; it is delivered after the next start")]
    private partial void LogIntakeFailed(Exception exception, string queueId);
}

/// <summary>Ready work: some recipients of a message. <see cref="Forced"/>: an operator's flush or an ETRN asked for it,
/// so held destinations go too. With <see cref="Route"/>: a routed delivery woken from its destination's wait, holding
/// the slot handed over to it.</summary>
internal sealed record QueueWork(QueuedMessage Message, int[] Indexes, bool Forced = false)
{
    public DeliveryRoute? Route { get; init; }
}
