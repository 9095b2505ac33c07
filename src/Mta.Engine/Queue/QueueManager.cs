// Schedules every spooled recipient: route, deliver, journal the outcome, retry with backoff, expire.
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

/// <summary>
/// The queue manager. The spool hands it each message in memory right after its fsync, and the recovered messages
/// at start; <see cref="QueueOptions.DeliveryConcurrency"/> workers then take one recipient at a time through the
/// route hook (or the built-in router), the deliver hook (or the built-in transport) and the observer hooks.
/// A delivered or permanently failed recipient is journaled in the spool; a deferred one is retried after a delay
/// that starts at <see cref="QueueOptions.MinRetryDelay"/> and doubles up to <see cref="QueueOptions.MaxRetryDelay"/>,
/// until <see cref="QueueOptions.MaxLifetime"/> after receipt, when it fails permanently.
/// The retry schedule lives in memory only: after a restart every pending recipient is tried again at once.
/// Bounce messages (DSNs) are not generated yet: a permanent failure is logged and raised as <see cref="BouncedContext"/>.
/// </summary>
public sealed partial class QueueManager : BackgroundService
{
    internal const string RemoteNotAvailable = "no transport for remote delivery yet";
    internal const string TerminalNotAvailable = "no terminal delivery configured";
    internal const string AgentNotRegistered = "no delivery agent named '{0}' is registered";

    private readonly QueueOptions _queue;
    private readonly HashSet<string> _localDomains;
    private readonly string _postmaster;
    private readonly HookPipeline _hooks;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SegmentSpool _spool;
    private readonly MaildirDelivery _maildir;
    private readonly ExtensionRegistry _extensions;
    private readonly Channel<RecipientWork> _ready = Channel.CreateUnbounded<RecipientWork>();
    private readonly ConcurrentDictionary<RetryTimer, byte> _timers = new();
    private readonly Lock _idleGate = new();
    // Starts at one for the recovery at start-up, so WhenIdleAsync does not report idle before recovered mail is queued.
    private int _busy = 1;
    private TaskCompletionSource? _idle;
    private long _pendingRecipients;
    private long _delivered, _bounced, _deferred;

    public QueueManager(MtaOptions options, HookPipeline hooks, TimeProvider time, ILogger<QueueManager> logger,
        SegmentSpool spool, MaildirDelivery maildir, ExtensionRegistry? extensions = null)
    {
        _queue = options.Queue;
        _localDomains = new HashSet<string>(options.LocalDomains.Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        _postmaster = options.Mailboxes.Postmaster;
        _hooks = hooks;
        _time = time;
        _logger = logger;
        _spool = spool;
        _maildir = maildir;
        _extensions = extensions ?? new ExtensionRegistry();
        // Subscribed now, not at start, so a message committed before the workers run is not missed.
        spool.SetCommitListener(Enqueue);
    }

    /// <summary>Recipients without a final outcome (queued, in delivery, or waiting for a retry).</summary>
    public long PendingRecipients => Interlocked.Read(ref _pendingRecipients);

    /// <summary>Recipients waiting for a retry timer.</summary>
    public int ScheduledRetries => _timers.Count;

    /// <summary>Totals since start: delivered, bounced (permanent failures), deferred attempts.</summary>
    public (long Delivered, long Bounced, long Deferred) Totals =>
        (Interlocked.Read(ref _delivered), Interlocked.Read(ref _bounced), Interlocked.Read(ref _deferred));

    /// <summary>
    /// Completes when no recipient is ready or being delivered: every one is final or waiting for a retry timer.
    /// A message whose commit has returned is already counted, so commit-then-wait is race free. Before the
    /// manager has started and queued the recovered mail it is never idle.
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
        LogStarted(recovered.Count, PendingRecipients, _queue.DeliveryConcurrency);
        var workers = new Task[_queue.DeliveryConcurrency];
        for (var i = 0; i < workers.Length; i++) workers[i] = Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None);
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var timer in _timers.Keys) timer.Dispose();
        _timers.Clear();
    }

    private void Enqueue(SpooledMessage spooled)
    {
        var message = new QueuedMessage(spooled, _spool);
        for (var i = 0; i < message.Recipients.Count; i++)
        {
            if (spooled.FinalRecipients.Contains(i)) continue;
            Interlocked.Increment(ref _pendingRecipients);
            MakeReady(new RecipientWork(message, i));
        }
    }

    private void MakeReady(RecipientWork work)
    {
        lock (_idleGate) _busy++;
        if (!_ready.Writer.TryWrite(work)) ReleaseBusy();
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
        try
        {
            await foreach (var work in _ready.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await AttemptAsync(work, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    // Not journaled: the recipient is still pending in the spool and is delivered after the restart.
                    return;
                }
                catch (Exception ex)
                {
                    LogWorkerFailed(ex, work.Message.QueueId, work.Recipient.Address.ToString());
                }
                finally
                {
                    ReleaseBusy();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task AttemptAsync(RecipientWork work, CancellationToken ct)
    {
        var message = work.Message;
        var recipient = work.Recipient;
        Route? route = null;
        Result result;
        try
        {
            var routing = new RouteContext(message, recipient);
            var routed = await _hooks.RunAsync(routing, ct).ConfigureAwait(false);
            switch (routed.Result.Decision)
            {
                case HookDecision.Continue:
                    route = BuiltInRoute(message, recipient);
                    break;
                case HookDecision.Accept:
                    route = routing.ChosenRoute ?? BuiltInRoute(message, recipient);
                    break;
            }
            result = route is null
                ? FromHook(routed, "route")
                : await DeliverAsync(message, recipient, route, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // Whatever broke (disk, hook bug) may be gone next time: a crash in delivery is never a bounce.
            LogAttemptFailed(ex, message.QueueId, recipient.Address.ToString());
            result = Result.Defer(ex.Message);
        }
        await FinishAsync(work, route, result, ct).ConfigureAwait(false);
    }

    private async Task<Result> DeliverAsync(QueuedMessage message, EnvelopeRecipient recipient, Route route, CancellationToken ct)
    {
        var delivering = await _hooks.RunAsync(new DeliverContext(message, recipient, route), ct).ConfigureAwait(false);
        if (!delivering.IsContinue) return FromHook(delivering, "deliver");
        switch (route.Kind)
        {
            case RouteKind.Mailbox:
                if (!MaildirDelivery.IsValidUser(route.Target))
                    return Result.Fail($"5.1.3 '{route.Target}' is not a usable mailbox name");
                var path = await _maildir.DeliverAsync(route.Target, recipient.Address, message.ReversePath, message.Content, ct).ConfigureAwait(false);
                return Result.Delivered("maildir " + Path.GetFileName(path));
            case RouteKind.Discard:
                return Result.Delivered("discarded: " + route.Target);
            case RouteKind.Remote:
                return Result.Defer(RemoteNotAvailable);
            case RouteKind.Terminal:
                return Result.Defer(TerminalNotAvailable);
            case RouteKind.Agent:
                return await DeliverToAgentAsync(message, recipient, route, ct).ConfigureAwait(false);
            default:
                return Result.Fail($"unknown route kind {route.Kind}");
        }
    }

    /// <summary>
    /// Hands the recipient to a plugin's delivery agent. A missing agent is deferred, not bounced: the plugin may be
    /// back after the operator fixes its config and restarts, and the mail must still be there.
    /// </summary>
    private async Task<Result> DeliverToAgentAsync(QueuedMessage message, EnvelopeRecipient recipient, Route route, CancellationToken ct)
    {
        if (!_extensions.TryGetDeliveryAgent(route.Target, out var agent))
            return Result.Defer(string.Format(System.Globalization.CultureInfo.InvariantCulture, AgentNotRegistered, route.Target));
        DeliveryOutcome? outcome;
        try
        {
            outcome = await agent.DeliverAsync(message, recipient, route, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // The contract says a throwing agent is a temporary failure: the plugin's bug must not bounce mail.
            LogAgentFailed(ex, message.QueueId, recipient.Address.ToString(), route.Target);
            return Result.Defer($"agent {route.Target} failed: {ex.GetType().Name}: {ex.Message}");
        }
        if (outcome is null) return Result.Defer($"agent {route.Target} returned no outcome");
        var detail = $"agent {route.Target}: {outcome.Detail}";
        return outcome.Status switch
        {
            DeliveryStatus.Delivered => Result.Delivered(detail),
            DeliveryStatus.Failed => Result.Fail(detail),
            _ => Result.Defer(detail),
        };
    }

    private static Result FromHook(HookOutcome outcome, string hook)
    {
        var r = outcome.Result;
        var text = $"{hook} hook {outcome.HandlerName}: {r.Code} {r.EnhancedCode} {r.Text}".Replace("  ", " ", StringComparison.Ordinal).TrimEnd();
        return r.Decision switch
        {
            HookDecision.Accept => Result.Delivered(text),
            HookDecision.Reject => Result.Fail(text),
            // Disconnect has no meaning here; treat it like a temporary refusal rather than losing mail.
            _ => Result.Defer(text),
        };
    }

    /// <summary>Local domains (and the bare postmaster) go to a Maildir, everything else to a remote route.</summary>
    private Route BuiltInRoute(QueuedMessage message, EnvelopeRecipient recipient)
    {
        var address = recipient.Address;
        if (address.Domain.Length > 0 && !_localDomains.Contains(address.Domain.TrimEnd('.')))
            return new Route(RouteKind.Remote, address.Domain);
        var user = address.IsPostmaster ? _postmaster : address.LocalPart.ToLowerInvariant();
        // SEND is terminal-only; SOML falls back to the mailbox (no terminal is ever "active" without a terminal
        // transport), and SAML's mailbox half is done here.
        return message.Kind == TransactionKind.Send ? new Route(RouteKind.Terminal, user) : new Route(RouteKind.Mailbox, user);
    }

    private async Task FinishAsync(RecipientWork work, Route? route, Result result, CancellationToken ct)
    {
        var message = work.Message;
        var recipient = work.Recipient;
        var routeText = route is null ? "-" : $"{route.Kind.ToString().ToLowerInvariant()}:{route.Target}";
        if (result.Kind == ResultKind.Deferred)
        {
            var now = _time.GetUtcNow();
            var expires = message.ReceivedAt + _queue.MaxLifetime;
            if (now < expires)
            {
                var attempts = ++message.Attempts[work.Index];
                var next = now + RetryDelay(attempts);
                // Never wait past the expiry: the last try happens at the end of the lifetime, then it bounces.
                if (next > expires) next = expires;
                Schedule(work, next - now);
                Interlocked.Increment(ref _deferred);
                LogDeferred(message.QueueId, recipient.Address.ToString(), routeText, result.Detail, next);
                await _hooks.NotifyAsync(new DeferredContext(message, recipient, result.Detail, next), ct).ConfigureAwait(false);
                return;
            }
            result = Result.Fail($"expired after {_queue.MaxLifetime} in the queue: {result.Detail}");
        }

        // Observers run before the outcome is journaled: journaling the last recipient of a sealed segment deletes
        // it, and an observer may still want to read the message. A crash between the Maildir fsync (or a notify) and
        // the journal write delivers that recipient again after the restart: delivery is at least once, never lost.
        if (result.Kind == ResultKind.Delivered)
        {
            Interlocked.Increment(ref _delivered);
            LogDelivered(message.QueueId, recipient.Address.ToString(), routeText, result.Detail);
            await _hooks.NotifyAsync(new DeliveredContext(message, recipient, route ?? new Route(RouteKind.Discard, "hook"), result.Detail), ct).ConfigureAwait(false);
        }
        else
        {
            Interlocked.Increment(ref _bounced);
            // No DSN is sent yet; the bounced hook and this line are the whole of it.
            LogBounced(message.QueueId, recipient.Address.ToString(), routeText, result.Detail);
            await _hooks.NotifyAsync(new BouncedContext(message, recipient, result.Detail), ct).ConfigureAwait(false);
        }
        try
        {
            await _spool.MarkFinalAsync(message.Location, work.Index,
                result.Kind == ResultKind.Delivered ? RecipientOutcome.Delivered : RecipientOutcome.Failed, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The spool logged it; the outcome stands in memory, and a restart may deliver this recipient again.
        }
        Interlocked.Decrement(ref _pendingRecipients);
    }

    /// <summary>MinRetryDelay, doubled per failed attempt, capped at MaxRetryDelay.</summary>
    internal TimeSpan RetryDelay(int attempts)
    {
        var delay = _queue.MinRetryDelay;
        for (var i = 1; i < attempts && delay < _queue.MaxRetryDelay; i++) delay += delay;
        return delay > _queue.MaxRetryDelay ? _queue.MaxRetryDelay : delay;
    }

    private void Schedule(RecipientWork work, TimeSpan delay)
    {
        var entry = new RetryTimer(work);
        _timers[entry] = 0;
        entry.Timer = _time.CreateTimer(static state =>
        {
            var (self, e) = ((QueueManager, RetryTimer))state!;
            if (!self._timers.TryRemove(e, out _)) return;
            e.Dispose();
            self.MakeReady(e.Work);
        }, (this, entry), delay, Timeout.InfiniteTimeSpan);
    }

    public override void Dispose()
    {
        foreach (var timer in _timers.Keys) timer.Dispose();
        _timers.Clear();
        base.Dispose();
    }

    private readonly record struct RecipientWork(QueuedMessage Message, int Index)
    {
        public EnvelopeRecipient Recipient => Message.Recipients[Index];
    }

    private sealed class RetryTimer(RecipientWork work) : IDisposable
    {
        public RecipientWork Work { get; } = work;
        public ITimer? Timer { get; set; }
        public void Dispose() => Timer?.Dispose();
    }

    private enum ResultKind { Delivered, Deferred, Failed }

    private readonly record struct Result(ResultKind Kind, string Detail)
    {
        public static Result Delivered(string detail) => new(ResultKind.Delivered, detail);
        public static Result Defer(string reason) => new(ResultKind.Deferred, reason);
        public static Result Fail(string reason) => new(ResultKind.Failed, reason);
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "{QueueId}: to=<{Recipient}> route={Route} result=delivered ({Detail})")]
    private partial void LogDelivered(string queueId, string recipient, string route, string detail);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "{QueueId}: to=<{Recipient}> route={Route} result=deferred ({Reason}), next attempt {NextAttempt:O}")]
    private partial void LogDeferred(string queueId, string recipient, string route, string reason, DateTimeOffset nextAttempt);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "{QueueId}: to=<{Recipient}> route={Route} result=bounced ({Reason}); no DSN is generated")]
    private partial void LogBounced(string queueId, string recipient, string route, string reason);

    [LoggerMessage(EventId = 403, Level = LogLevel.Information, Message = "Queue started: {Messages} recovered messages, {Recipients} pending recipients, {Workers} delivery workers")]
    private partial void LogStarted(int messages, long recipients, int workers);

    [LoggerMessage(EventId = 404, Level = LogLevel.Error, Message = "{QueueId}: delivery attempt to <{Recipient}> failed; will retry")]
    private partial void LogAttemptFailed(Exception exception, string queueId, string recipient);

    [LoggerMessage(EventId = 406, Level = LogLevel.Error, Message = "{QueueId}: delivery agent {Agent} threw on <{Recipient}>; will retry")]
    private partial void LogAgentFailed(Exception exception, string queueId, string recipient, string agent);

    [LoggerMessage(EventId = 405, Level = LogLevel.Error, Message = "{QueueId}: queue worker failed on <{Recipient}>")]
    private partial void LogWorkerFailed(Exception exception, string queueId, string recipient);
}
