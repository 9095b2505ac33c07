// Counts hook calls abandoned while still running, per script or plugin, and takes one out of service past a limit.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Extensibility.Containment;

/// <summary>
/// The guard behind <see cref="HookContainmentOptions"/>. The pipeline asks <see cref="IsOutOfService"/> before each
/// call and reports every call it abandons with <see cref="Abandoned"/>; the guard watches that call until it ends.
/// Handlers are keyed by their pipeline owner (<c>script:NAME</c>, <c>plugin:NAME</c>), or by handler name for
/// handlers registered in code. Metrics go to the meter <see cref="MeterName"/>.
/// </summary>
public sealed partial class HookContainment : IDisposable
{
    /// <summary>The meter of the hook metrics.</summary>
    public const string MeterName = "Mta.Hooks";

    /// <summary>UpDownCounter: abandoned calls still running, tagged with <see cref="HandlerTag"/>.</summary>
    public const string AbandonedRunningInstrument = "mta.hooks.abandoned.running";

    /// <summary>Counter: calls abandoned because they overran their budget.</summary>
    public const string AbandonedInstrument = "mta.hooks.abandoned";

    /// <summary>Counter: handlers taken out of service.</summary>
    public const string OutOfServiceInstrument = "mta.hooks.out_of_service";

    /// <summary>The tag naming the script or plugin.</summary>
    public const string HandlerTag = "mta.hook.handler";

    /// <summary>
    /// How long a call that overran may take to end before it counts as abandoned. The budget's token and the wait
    /// for the call run out at the same moment, so a handler that honours its token is often still unwinding when the
    /// wait gives up; it must not count (three slow DNS lookups at once are not a loop). It delays only the failure
    /// reply of a call that overran.
    /// </summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(200);

    private readonly HookContainmentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly UpDownCounter<long> _running;
    private readonly Counter<long> _abandoned;
    private readonly Counter<long> _outOfService;
    private readonly ConcurrentDictionary<string, HandlerState> _handlers = new(StringComparer.Ordinal);

    /// <param name="options">The limits.</param>
    /// <param name="time">The clock of the window.</param>
    /// <param name="logger">The abandoned, ended and out-of-service lines.</param>
    /// <param name="meters">The host's meter factory, so that each server has its own meter; null creates one.</param>
    public HookContainment(HookContainmentOptions options, TimeProvider time, ILogger<HookContainment> logger, IMeterFactory? meters = null)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _ownsMeter = meters is null;
        _meter = meters?.Create(MeterName) ?? new Meter(MeterName);
        _running = _meter.CreateUpDownCounter<long>(AbandonedRunningInstrument, "{call}", "Hook calls abandoned after overrunning their budget that are still running");
        _abandoned = _meter.CreateCounter<long>(AbandonedInstrument, "{call}", "Hook calls abandoned after overrunning their budget");
        _outOfService = _meter.CreateCounter<long>(OutOfServiceInstrument, "{handler}", "Scripts or plugins taken out of service for too many abandoned calls still running");
    }

    /// <summary>The meter the instruments belong to (a listener tells this server's from another's by it).</summary>
    public Meter Meter => _meter;

    /// <summary>True when the handler is out of service: its calls get the failure reply without running it.</summary>
    public bool IsOutOfService(string handler) => _handlers.TryGetValue(handler, out var state) && state.OutOfService;

    /// <summary>Abandoned calls of the handler still running (those of an earlier generation are not counted).</summary>
    public int AbandonedRunning(string handler)
    {
        if (!_handlers.TryGetValue(handler, out var state)) return 0;
        lock (state.Gate) return state.Running.Count;
    }

    /// <summary>
    /// Gives a call that overran <see cref="Grace"/> to end; if it still runs, records it as <see cref="Abandoned"/>.
    /// Returns when the handler is counted (and maybe out of service), so the next call already sees it.
    /// </summary>
    public async Task AbandonAsync(string handler, string hook, string? sessionId, Task running)
    {
        ArgumentNullException.ThrowIfNull(running);
        using var stop = new CancellationTokenSource();
        var first = await Task.WhenAny(running, Task.Delay(Grace, _time, stop.Token)).ConfigureAwait(false);
        stop.Cancel();
        if (first != running && !running.IsCompleted) Abandoned(handler, hook, sessionId, running);
    }

    /// <summary>
    /// Records a call the pipeline gave up waiting for, and watches <paramref name="running"/> until it ends. When this
    /// call brings the handler's count of abandoned calls still running within the window to the limit, the handler
    /// is taken out of service.
    /// </summary>
    /// <param name="handler">The script or plugin (pipeline owner), or the handler's name.</param>
    /// <param name="hook">The hook (context type name), for the log.</param>
    /// <param name="sessionId">The SMTP session, when the hook has one.</param>
    /// <param name="running">The call, not completed.</param>
    public void Abandoned(string handler, string hook, string? sessionId, Task running)
    {
        ArgumentNullException.ThrowIfNull(running);
        var tag = new KeyValuePair<string, object?>(HandlerTag, handler);
        var call = new AbandonedCall(_time.GetUtcNow(), Stopwatch.GetTimestamp());
        var state = _handlers.GetOrAdd(handler, _ => new HandlerState());
        int inWindow;
        var takenOut = false;
        lock (state.Gate)
        {
            state.Running.Add(call);
            var since = call.At - _options.Window;
            inWindow = state.Running.Count(c => c.At > since);
            if (_options.Enabled && !state.OutOfService && inWindow >= _options.MaxAbandoned)
                takenOut = state.OutOfService = true;
        }
        _abandoned.Add(1, tag);
        _running.Add(1, tag);
        LogAbandoned(handler, hook, sessionId ?? "-", inWindow);
        if (takenOut)
        {
            _outOfService.Add(1, tag);
            LogOutOfService(handler, inWindow, _options.Window.TotalMinutes);
        }
        // Synchronous continuation: it only counts and logs. Reading Exception marks a late failure as observed.
        running.ContinueWith(t =>
        {
            _ = t.Exception;
            lock (state.Gate) state.Running.Remove(call);
            _running.Add(-1, tag);
            LogAbandonedEnded(handler, hook, sessionId ?? "-", Stopwatch.GetElapsedTime(call.Started).TotalMilliseconds, t.Status);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Puts a handler back in service with a clean count (its script was saved again: a new generation). Calls of
    /// the old generation that still run are no longer counted against it, though the metric still shows them.
    /// </summary>
    public void Restore(string handler)
    {
        if (_handlers.TryRemove(handler, out var state) && state.OutOfService) LogBackInService(handler);
    }

    /// <summary>Puts every handler back in service (a server reload).</summary>
    public void RestoreAll()
    {
        foreach (var handler in _handlers.Keys) Restore(handler);
    }

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }

    /// <summary>Logs a call skipped because its handler is out of service (debug level: it repeats per call).</summary>
    public void Skipped(string handler, string hook, string? sessionId) => LogSkipped(handler, hook, sessionId ?? "-");

    private sealed class HandlerState
    {
        public Lock Gate { get; } = new();
        public List<AbandonedCall> Running { get; } = [];
        public bool OutOfService { get; set; }
    }

    private sealed record AbandonedCall(DateTimeOffset At, long Started);

    [LoggerMessage(EventId = LogEvents.HookContainment.Abandoned, Level = LogLevel.Warning,
        Message = "Hook handler {Handler} on {Hook} in session {SessionId} abandoned while still running; {Running} abandoned call(s) of it running within the window")]
    private partial void LogAbandoned(string handler, string hook, string sessionId, int running);

    [LoggerMessage(EventId = LogEvents.HookContainment.AbandonedEnded, Level = LogLevel.Information,
        Message = "Abandoned call of hook handler {Handler} on {Hook} in session {SessionId} ended after {ElapsedMs:0} ms ({Status})")]
    private partial void LogAbandonedEnded(string handler, string hook, string sessionId, double elapsedMs, TaskStatus status);

    [LoggerMessage(EventId = LogEvents.HookContainment.OutOfService, Level = LogLevel.Error,
        Message = "Hook handler {Handler} taken out of service: {Running} abandoned calls still running within {WindowMinutes:0.#} min. Its hooks get the failure reply without running it until it is saved again or the server is reloaded")]
    private partial void LogOutOfService(string handler, int running, double windowMinutes);

    [LoggerMessage(EventId = LogEvents.HookContainment.BackInService, Level = LogLevel.Information,
        Message = "Hook handler {Handler} back in service")]
    private partial void LogBackInService(string handler);

    [LoggerMessage(EventId = LogEvents.HookContainment.Skipped, Level = LogLevel.Debug,
        Message = "Hook handler {Handler} on {Hook} in session {SessionId} not run: out of service")]
    private partial void LogSkipped(string handler, string hook, string sessionId);
}
