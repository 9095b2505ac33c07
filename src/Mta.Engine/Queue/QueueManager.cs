// Schedules every spooled recipient: route, deliver (locally or over SMTP), journal the outcome, retry on a durable schedule, bounce.
using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Bounces;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Spool;
using Mta.Protocol;

namespace Mta.Engine.Queue;

/// <summary>
/// The queue manager. The spool hands it each message in memory right after its fsync, and the recovered messages at
/// start. <see cref="QueueOptions.DeliveryConcurrency"/> workers take ready work from a two-lane
/// <see cref="ReadyQueue{T}"/> (new mail and due retries, so neither starves) and, per message, run each recipient
/// through the route hook (or the built-in router) and the deliver hook; local recipients go to their Maildir, remote
/// ones are grouped by next hop so each destination gets one transaction (<see cref="SmtpDeliveryAgent"/>).
/// A delivered or failed recipient is journaled in the spool; a failed one gets a DSN first (<see cref="BounceSender"/>).
/// A deferred recipient's next attempt (<see cref="RetryPolicy"/>) is written to the spool's retry journal, so the
/// schedule survives a restart, and kept in a <see cref="RetrySchedule{T}"/> until due.
/// </summary>
public sealed partial class QueueManager : BackgroundService, Control.IQueueAdministration
{
    internal const string TerminalNotAvailable = TerminalAgent.NotAvailable;

    private readonly MtaOptions _options;
    private readonly QueueOptions _queue;
    private readonly HashSet<string> _localDomains;
    private readonly string _postmaster;
    private readonly HookPipeline _hooks;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SegmentSpool _spool;
    private readonly MaildirAgent _mailbox;
    private readonly TerminalAgent _terminal;
    private readonly DiscardAgent _discard = new();
    private readonly PluginAgents _agents;
    private readonly SmtpDeliveryAgent _remote;
    // Interim, until the scheduler's per-destination windows: deliveries at once per destination (DestinationConcurrency).
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _windows = new(StringComparer.OrdinalIgnoreCase);
    private readonly BounceSender _bounces;
    private readonly Terminal.ITerminals? _terminals;
    private readonly ReadyQueue<Work> _ready;
    private readonly RetrySchedule<Work> _schedule;
    private readonly ConcurrentDictionary<string, QueuedMessage> _messages = new(StringComparer.Ordinal);
    private readonly Lock _idleGate = new();
    // Starts at one for the recovery at start-up, so WhenIdleAsync does not report idle before recovered mail is queued.
    private int _busy = 1;
    private TaskCompletionSource? _idle;
    private long _pendingRecipients;
    private long _delivered, _bounced, _deferred;

    internal QueueManager(MtaOptions options, HookPipeline hooks, TimeProvider time, ILogger<QueueManager> logger,
        SegmentSpool spool, MaildirDelivery maildir, ExtensionRegistry? extensions = null, SmtpDeliveryAgent? remote = null,
        BounceSender? bounces = null, ILoggerFactory? loggerFactory = null, Terminal.ITerminals? terminals = null)
    {
        _options = options;
        _queue = options.Queue;
        _localDomains = new HashSet<string>(options.LocalDomains.Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        _postmaster = options.Mailboxes.Postmaster;
        _hooks = hooks;
        _time = time;
        _logger = logger;
        _spool = spool;
        loggerFactory ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        _mailbox = new MaildirAgent(maildir, options, loggerFactory.CreateLogger<MaildirAgent>());
        _terminal = new TerminalAgent(terminals, _mailbox, options, loggerFactory.CreateLogger<TerminalAgent>());
        _agents = new PluginAgents(extensions ?? new ExtensionRegistry(), loggerFactory.CreateLogger<PluginAgents>());
        _remote = remote ?? new SmtpDeliveryAgent(options, new NextHopSelector(options),
            new DnsTargetResolver(new Dns.DnsResolver(options.Dns, time, loggerFactory.CreateLogger<Dns.DnsResolver>()),
                loggerFactory.CreateLogger<DnsTargetResolver>()), time, loggerFactory.CreateLogger<SmtpDeliveryAgent>());
        _bounces = bounces ?? new BounceSender(options,
            new Extensibility.Plugins.MessageSubmitter(spool, options, time, loggerFactory.CreateLogger<Extensibility.Plugins.MessageSubmitter>()),
            time, loggerFactory.CreateLogger<BounceSender>());
        _terminals = terminals;
        _ready = new ReadyQueue<Work>(_queue.DeferredShare);
        _schedule = new RetrySchedule<Work>(time, work => MakeReady(work, retry: true));
        // Subscribed now, not at start, so a message committed before the workers run is not missed.
        spool.SetCommitListener(Enqueue);
    }

    /// <summary>Recipients without a final outcome (queued, in delivery, or waiting for a retry).</summary>
    public long PendingRecipients => Interlocked.Read(ref _pendingRecipients);

    /// <summary>Deferred work items (a message's recipients that share a next attempt) waiting for their time.</summary>
    public int ScheduledRetries => _schedule.Count;

    /// <summary>Totals since start: delivered, bounced (permanent failures), deferred attempts.</summary>
    public (long Delivered, long Bounced, long Deferred) Totals =>
        (Interlocked.Read(ref _delivered), Interlocked.Read(ref _bounced), Interlocked.Read(ref _deferred));

    internal SmtpDeliveryAgent Remote => _remote;

    /// <summary>
    /// Completes when no work is ready or being delivered: every recipient is final or waiting for a retry. A message
    /// whose commit has returned is already counted, so commit-then-wait is race free. Before the manager has started
    /// and queued the recovered mail it is never idle.
    /// </summary>
    public Task WhenIdleAsync(CancellationToken cancellationToken = default)
    {
        lock (_idleGate)
        {
            if (_busy == 0) return Task.CompletedTask;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task.WaitAsync(cancellationToken);
        }
    }

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
            ReleaseBusy();
        }
        LogStarted(recovered.Count, PendingRecipients, _schedule.Count, _queue.DeliveryConcurrency);
        var workers = new Task[_queue.DeliveryConcurrency];
        for (var i = 0; i < workers.Length; i++) workers[i] = Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None);
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _schedule.Dispose();
        await _remote.DisposeAsync().ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _schedule.Dispose();
        base.Dispose();
    }

    /// <summary>Takes in a committed (or recovered) message: due recipients become ready, deferred ones wait for their time.</summary>
    private void Enqueue(SpooledMessage spooled)
    {
        var message = new QueuedMessage(spooled, _spool);
        _messages[message.QueueId] = message;
        var now = _time.GetUtcNow();
        var ready = new List<int>();
        var later = new Dictionary<DateTimeOffset, List<int>>();
        lock (message.Gate)
        {
            for (var i = 0; i < message.Tracks.Length; i++)
            {
                var track = message.Tracks[i];
                if (track.State == RecipientState.Final) continue;
                Interlocked.Increment(ref _pendingRecipients);
                if (track.NextAttempt is { } next && next > now)
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
        if (ready.Count > 0) MakeReady(new Work(message, [.. ready]), retry: spooled.Deferrals is not null);
        foreach (var (at, indexes) in later) _schedule.Add(new Work(message, [.. indexes]), at);
        if (ready.Count == 0 && later.Count == 0) _messages.TryRemove(message.QueueId, out _);
    }

    private void MakeReady(Work work, bool retry)
    {
        lock (_idleGate) _busy++;
        if (retry) _ready.EnqueueRetry(work);
        else _ready.EnqueueFresh(work);
    }

    private void ReleaseBusy()
    {
        TaskCompletionSource? idle = null;
        lock (_idleGate)
        {
            if (--_busy == 0)
            {
                idle = _idle;
                _idle = null;
            }
        }
        idle?.TrySetResult();
    }

    private async Task WorkerAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Work work;
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
                ReleaseBusy();
            }
        }
    }

    /// <summary>One pass over some recipients of one message.</summary>
    private async Task ProcessAsync(Work work, CancellationToken ct)
    {
        var message = work.Message;
        var unit = new PassOutcomes(message);
        if (work.Hop is { } parkedHop)
        {
            // Woken from a destination's wait: routing and the deliver hook already ran for these recipients.
            await DeliverRemoteAsync(unit, parkedHop, work.Indexes, ct, work.Forced).ConfigureAwait(false);
            await CompleteAsync(unit, ct).ConfigureAwait(false);
            return;
        }
        var indexes = message.Claim(work.Indexes, RecipientState.Active, RecipientState.Ready, RecipientState.Deferred);
        var remote = new Dictionary<string, (NextHop Hop, List<int> Indexes)>(StringComparer.OrdinalIgnoreCase);
        foreach (var index in indexes)
        {
            var recipient = message.Recipients[index];
            Route? route = null;
            Result result;
            try
            {
                var routing = new RouteContext(message, recipient);
                var routed = await _hooks.RunAsync(routing, ct).ConfigureAwait(false);
                route = routed.Result.Decision switch
                {
                    HookDecision.Continue => await BuiltInRouteAsync(message, recipient, ct).ConfigureAwait(false),
                    HookDecision.Accept => routing.ChosenRoute ?? await BuiltInRouteAsync(message, recipient, ct).ConfigureAwait(false),
                    _ => null,
                };
                if (route is null)
                {
                    result = FromHook(routed, "route");
                }
                else
                {
                    var delivering = await _hooks.RunAsync(new DeliverContext(message, recipient, route), ct).ConfigureAwait(false);
                    if (!delivering.IsContinue)
                    {
                        result = FromHook(delivering, "deliver");
                    }
                    else if (route.Kind == RouteKind.Remote)
                    {
                        var hop = _remote.Select(route.Target);
                        if (!remote.TryGetValue(hop.Key, out var group)) remote[hop.Key] = group = (hop, []);
                        group.Indexes.Add(index);
                        continue;
                    }
                    else
                    {
                        result = await DeliverLocallyAsync(message, recipient, route, ct).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                // Whatever broke (disk, hook bug) may be gone next time: a crash in delivery is never a bounce.
                LogAttemptFailed(ex, message.QueueId, recipient.Address.ToString());
                result = Result.Defer("4.3.0 " + ex.Message) with { Status = "4.3.0" };
            }
            await FinishAsync(unit, index, route, result, ct).ConfigureAwait(false);
        }
        foreach (var (hop, group) in remote.Values)
            await DeliverRemoteAsync(unit, hop, [.. group], ct, work.Forced).ConfigureAwait(false);
        await CompleteAsync(unit, ct).ConfigureAwait(false);
    }

    private async Task DeliverRemoteAsync(PassOutcomes unit, NextHop hop, int[] indexes, CancellationToken ct, bool forced = false)
    {
        var message = unit.Message;
        lock (message.Gate) indexes = indexes.Where(i => message.Tracks[i].State == RecipientState.Active).ToArray();
        if (indexes.Length == 0) return;
        var route = new Route(RouteKind.Remote, hop.Name);
        if (hop.Hold && !forced)
        {
            // A held domain (we are its backup MX) waits for its server to ask: ETRN flushes it, TURN takes it.
            foreach (var index in indexes)
                await FinishAsync(unit, index, route, Result.Defer($"4.3.2 held for {hop.Name} until it asks with ETRN or TURN") with { Status = "4.3.2" }, ct).ConfigureAwait(false);
            return;
        }
        var request = new DeliveryRequest(message, indexes.Select(i => message.Recipients[i]).ToArray(), route);
        var window = _windows.GetOrAdd(hop.Key, _ => new SemaphoreSlim(_options.Relay.Resilience.DestinationConcurrency));
        await window.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await DeliverBatchAsync(unit, route, indexes, c => _remote.DeliverAsync(hop, request, c), ct).ConfigureAwait(false);
        }
        finally
        {
            window.Release();
        }
    }

    /// <summary>Runs one remote transaction and records its results.</summary>
    private async Task DeliverBatchAsync(PassOutcomes unit, Route route, int[] indexes, Func<CancellationToken, Task<DeliveryResult>> deliver,
        CancellationToken ct)
    {
        var message = unit.Message;
        DeliveryResult batch;
        try
        {
            batch = await deliver(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            LogAttemptFailed(ex, message.QueueId, route.Target);
            batch = new DeliveryResult(indexes.Select(_ => DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message)).ToArray());
        }
        for (var i = 0; i < indexes.Length; i++)
            await FinishAsync(unit, indexes[i], route, Result.From(batch.Recipients[i]), ct).ConfigureAwait(false);
    }

    private async Task<Result> DeliverLocallyAsync(QueuedMessage message, EnvelopeRecipient recipient, Route route, CancellationToken ct)
    {
        IDeliveryAgent? agent = route.Kind switch
        {
            RouteKind.Mailbox => _mailbox,
            RouteKind.Terminal => _terminal,
            RouteKind.Discard => _discard,
            RouteKind.Agent => _agents,
            _ => null,
        };
        if (agent is null) return Result.Fail($"5.3.0 unknown route kind {route.Kind}") with { Status = "5.3.0" };
        var result = await agent.DeliverAsync(new DeliveryRequest(message, [recipient], route), ct).ConfigureAwait(false);
        return Result.From(result.Recipients[0]);
    }

    private static Result FromHook(HookOutcome outcome, string hook)
    {
        var r = outcome.Result;
        var text = $"{hook} hook {outcome.HandlerName}: {r.Code} {r.EnhancedCode} {r.Text}".Replace("  ", " ", StringComparison.Ordinal).TrimEnd();
        return r.Decision switch
        {
            HookDecision.Accept => Result.Delivered(text, DsnAction.Delivered) with { Status = r.EnhancedCode ?? "2.0.0" },
            HookDecision.Reject => Result.Fail(text) with { Status = r.EnhancedCode ?? "5.0.0" },
            // Disconnect has no meaning here; treat it like a temporary refusal rather than losing mail.
            _ => Result.Defer(text) with { Status = r.EnhancedCode ?? "4.0.0" },
        };
    }

    /// <summary>
    /// Local domains (and the bare postmaster) go to a Maildir, everything else to a remote route. SEND goes to the
    /// user's terminal; SOML and SAML to the terminal when the user is active there (SAML's terminal delivery also
    /// fills the mailbox), else to the mailbox. A route hook that picks the mailbox for SOML or SAML keeps the message
    /// off the terminal: that is how a policy vetoes terminal delivery.
    /// </summary>
    private async ValueTask<Route> BuiltInRouteAsync(QueuedMessage message, EnvelopeRecipient recipient, CancellationToken ct)
    {
        var address = recipient.Address;
        if (address.Domain.Length > 0 && !_localDomains.Contains(address.Domain.TrimEnd('.')))
            return new Route(RouteKind.Remote, address.Domain);
        var user = address.IsPostmaster ? _postmaster : address.LocalPart.ToLowerInvariant();
        return message.Kind switch
        {
            TransactionKind.Send => new Route(RouteKind.Terminal, user),
            TransactionKind.SendOrMail or TransactionKind.SendAndMail
                when _terminals is { Enabled: true } && await _terminals.IsActiveAsync(user, ct).ConfigureAwait(false)
                => new Route(RouteKind.Terminal, user),
            _ => new Route(RouteKind.Mailbox, user),
        };
    }

    /// <summary>Records one recipient's outcome of this pass: observers, counters, and what to journal and report at its end.</summary>
    private async Task FinishAsync(PassOutcomes unit, int index, Route? route, Result result, CancellationToken ct)
    {
        var message = unit.Message;
        var recipient = message.Recipients[index];
        var routeText = route is null ? "-" : $"{route.Kind.ToString().ToLowerInvariant()}:{route.Target}";
        var now = _time.GetUtcNow();
        if (result.Kind == ResultKind.Deferred)
        {
            if (!RetryPolicy.IsExpired(message.ReceivedAt, now, _queue))
            {
                var next = RetryPolicy.NextAttempt(message.ReceivedAt, now, _queue);
                DeferralRecord record;
                var warn = false;
                lock (message.Gate)
                {
                    var track = message.Tracks[index];
                    track.Attempts++;
                    track.LastError = result.Detail;
                    track.NextAttempt = next;
                    if (!track.DelayWarned && RetryPolicy.IsDelayWarningDue(message.ReceivedAt, now, _queue)
                        && _bounces.IsDue(message, recipient, DsnAction.Delayed))
                    {
                        track.DelayWarned = warn = true;
                    }
                    record = new DeferralRecord(track.Attempts, next, track.DelayWarned, track.LastError);
                }
                unit.Deferrals.Add((index, record));
                if (warn) unit.Reports.Add((index, Report(recipient, DsnAction.Delayed, result, now)));
                Interlocked.Increment(ref _deferred);
                LogDeferred(message.QueueId, recipient.Address.ToString(), routeText, result.Detail, next);
                await _hooks.NotifyAsync(new DeferredContext(message, recipient, result.Detail, next), ct).ConfigureAwait(false);
                return;
            }
            result = Result.Fail($"4.4.7 message expired after {_queue.MaxLifetime} in the queue; last error: {result.Detail}") with
            {
                RemoteReply = result.RemoteReply,
                RemoteHost = result.RemoteHost,
                Status = "4.4.7",
            };
        }

        if (result.Kind == ResultKind.Delivered)
        {
            unit.DeliveredCount++;
            Interlocked.Increment(ref _delivered);
            LogDelivered(message.QueueId, recipient.Address.ToString(), routeText, result.Detail);
            await _hooks.NotifyAsync(new DeliveredContext(message, recipient, route ?? new Route(RouteKind.Discard, "hook"), result.Detail), ct).ConfigureAwait(false);
            var reported = result.SuccessAction is { } action && _bounces.IsDue(message, recipient, action);
            if (reported) unit.Reports.Add((index, Report(recipient, result.SuccessAction!.Value, result, now)));
            unit.Finals.Add((index, RecipientOutcome.Delivered, result.Detail, reported));
        }
        else
        {
            Interlocked.Increment(ref _bounced);
            LogBounced(message.QueueId, recipient.Address.ToString(), routeText, result.Detail);
            await _hooks.NotifyAsync(new BouncedContext(message, recipient, result.Detail), ct).ConfigureAwait(false);
            var reported = _bounces.IsDue(message, recipient, DsnAction.Failed);
            if (reported) unit.Reports.Add((index, Report(recipient, DsnAction.Failed, result, now)));
            unit.Finals.Add((index, RecipientOutcome.Failed, result.Detail, reported));
        }
        // An outcome nobody is told about is journaled at once: nothing has to reach the disk before it.
        await JournalFinalsAsync(unit, reportedOnly: false, ct).ConfigureAwait(false);
    }

    private DsnRecipient Report(EnvelopeRecipient recipient, DsnAction action, Result result, DateTimeOffset now)
    {
        // An explicit status (4.4.7 for an expired message) wins over the last reply's, which stays in Diagnostic-Code.
        var status = result.Status ?? (action switch { DsnAction.Failed => "5.0.0", DsnAction.Delayed => "4.0.0", _ => "2.0.0" });
        var diagnostic = result.RemoteReply;
        var host = result.RemoteHost is { } h ? h.Split('[')[0] : null;
        // Will-Retry-Until of a delay report is filled in with the message's expiry when the DSN is sent.
        return new DsnRecipient(recipient, action, status, diagnostic, result.Detail, host, now, null);
    }

    /// <summary>End of a pass: DSNs first (spooled), then the outcomes they report on, then the retry schedule.</summary>
    private async Task CompleteAsync(PassOutcomes unit, CancellationToken ct)
    {
        var message = unit.Message;
        foreach (var group in unit.Reports.GroupBy(r => r.Report.Action))
        {
            var reports = group.Select(g => g.Report).ToArray();
            if (group.Key == DsnAction.Delayed)
                reports = reports.Select(r => r with { WillRetryUntil = RetryPolicy.ExpiresAt(message.ReceivedAt, _queue) }).ToArray();
            try
            {
                await _bounces.SendAsync(message, reports, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
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
                    unit.Finals.RemoveAll(f => f.Index == index);
                    var next = _time.GetUtcNow() + _queue.MinRetryDelay;
                    lock (message.Gate)
                    {
                        var track = message.Tracks[index];
                        track.NextAttempt = next;
                        track.LastError = "could not queue the delivery status notification: " + ex.Message;
                        unit.Deferrals.Add((index, new DeferralRecord(track.Attempts, next, track.DelayWarned, track.LastError)));
                    }
                }
            }
        }
        await JournalFinalsAsync(unit, reportedOnly: true, ct).ConfigureAwait(false);

        if (unit.Deferrals.Count > 0)
        {
            foreach (var (index, record) in unit.Deferrals)
            {
                try
                {
                    await _spool.RecordDeferralAsync(message.Location, index, record, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The spool logged it; only the schedule is at stake: after a restart the recipient is tried at once.
                }
            }
            foreach (var group in unit.Deferrals.GroupBy(d => d.Record.NextAttempt))
            {
                var indexes = message.Claim(group.Select(g => g.Index), RecipientState.Deferred, RecipientState.Active);
                if (indexes.Length > 0) _schedule.Add(new Work(message, indexes), group.Key);
            }
        }
        if (message.IsComplete) _messages.TryRemove(message.QueueId, out _);
    }

    private async Task JournalFinalsAsync(PassOutcomes unit, bool reportedOnly, CancellationToken ct)
    {
        var message = unit.Message;
        for (var i = unit.Finals.Count - 1; i >= 0; i--)
        {
            var (index, outcome, text, reported) = unit.Finals[i];
            if (reported && !reportedOnly) continue;
            unit.Finals.RemoveAt(i);
            if (!message.TryMakeFinal(index, outcome, text)) continue;
            try
            {
                await _spool.MarkFinalAsync(message.Location, index, outcome, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The spool logged it; the outcome stands in memory, and a restart may deliver this recipient again.
            }
            Interlocked.Decrement(ref _pendingRecipients);
        }
    }

    /// <summary>Ready work: some recipients of a message; with <see cref="Hop"/>, a remote batch woken from a destination's
    /// wait. <see cref="Forced"/>: an operator's flush or an ETRN asked for it, so held domains go too.</summary>
    private sealed record Work(QueuedMessage Message, int[] Indexes, NextHop? Hop = null, bool Forced = false);

    /// <summary>What one pass decided, kept until its end so DSNs are spooled before the outcomes they report.</summary>
    private sealed class PassOutcomes(QueuedMessage message)
    {
        public QueuedMessage Message { get; } = message;
        public List<(int Index, RecipientOutcome Outcome, string Text, bool Reported)> Finals { get; } = [];
        public List<(int Index, DsnRecipient Report)> Reports { get; } = [];
        public List<(int Index, DeferralRecord Record)> Deferrals { get; } = [];
        public int DeliveredCount { get; set; }
    }

    private enum ResultKind { Delivered, Deferred, Failed }

    /// <summary>One recipient's outcome. <see cref="SuccessAction"/>: which success DSN NOTIFY=SUCCESS gets (none when the
    /// next server took the DSN duty); <see cref="Status"/>: its RFC 3463 code.</summary>
    private sealed record Result(ResultKind Kind, string Detail)
    {
        public DsnAction? SuccessAction { get; init; }
        public string? RemoteReply { get; init; }
        public string? RemoteHost { get; init; }
        public string? Status { get; init; }

        /// <summary>A delivery agent's outcome.</summary>
        public static Result From(DeliveryOutcome o) => new(o.Status switch
        {
            DeliveryStatus.Delivered => ResultKind.Delivered,
            DeliveryStatus.Failed => ResultKind.Failed,
            _ => ResultKind.Deferred,
        }, o.Detail)
        {
            SuccessAction = o.Notice switch
            {
                SuccessNotice.Delivered => DsnAction.Delivered,
                SuccessNotice.Relayed => DsnAction.Relayed,
                SuccessNotice.Expanded => DsnAction.Expanded,
                _ => null,
            },
            RemoteReply = o.RemoteReply,
            RemoteHost = o.RemoteHost,
            Status = o.EnhancedStatus,
        };

        public static Result Delivered(string detail, DsnAction? successAction) => new(ResultKind.Delivered, detail) { SuccessAction = successAction };
        public static Result Defer(string reason) => new(ResultKind.Deferred, reason);
        public static Result Fail(string reason) => new(ResultKind.Failed, reason);
    }

    [LoggerMessage(EventId = LogEvents.Queue.Delivered, Level = LogLevel.Information, Message = "{QueueId}: to=<{Recipient}> route={Route} result=delivered ({Detail})")]
    private partial void LogDelivered(string queueId, string recipient, string route, string detail);

    [LoggerMessage(EventId = LogEvents.Queue.Deferred, Level = LogLevel.Information, Message = "{QueueId}: to=<{Recipient}> route={Route} result=deferred ({Reason}), next attempt {NextAttempt:O}")]
    private partial void LogDeferred(string queueId, string recipient, string route, string reason, DateTimeOffset nextAttempt);

    [LoggerMessage(EventId = LogEvents.Queue.Bounced, Level = LogLevel.Warning, Message = "{QueueId}: to=<{Recipient}> route={Route} result=bounced ({Reason})")]
    private partial void LogBounced(string queueId, string recipient, string route, string reason);

    [LoggerMessage(EventId = LogEvents.Queue.Started, Level = LogLevel.Information, Message = "Queue started: {Messages} recovered messages, {Recipients} pending recipients ({Scheduled} waiting for a retry), {Workers} delivery workers")]
    private partial void LogStarted(int messages, long recipients, int scheduled, int workers);

    [LoggerMessage(EventId = LogEvents.Queue.AttemptFailed, Level = LogLevel.Error, Message = "{QueueId}: delivery attempt to <{Recipient}> failed; will retry")]
    private partial void LogAttemptFailed(Exception exception, string queueId, string recipient);

    [LoggerMessage(EventId = LogEvents.Queue.WorkerFailed, Level = LogLevel.Error, Message = "{QueueId}: queue worker failed")]
    private partial void LogWorkerFailed(Exception exception, string queueId);

    [LoggerMessage(EventId = LogEvents.Queue.DsnFailed, Level = LogLevel.Error, Message = "{QueueId}: the delivery status notification could not be queued; its recipients stay in the queue")]
    private partial void LogDsnFailed(Exception exception, string queueId);
}
