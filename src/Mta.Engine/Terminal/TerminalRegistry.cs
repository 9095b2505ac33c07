// The one ITerminals of the server: built-in sinks plus plugin sinks, each bounded in time and isolated from failure.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;

namespace Mta.Engine.Terminal;

/// <summary>
/// <see cref="ITerminals"/> over the built-in sinks and those plugins added (<see cref="ExtensionRegistry.TerminalSinks"/>,
/// read at each call, so sinks registered after start-up count). Every sink call runs on the thread pool with a time limit
/// (<c>Terminal:SinkTimeout</c>): a sink that throws, blocks or is slow counts as "not active" / "not delivered" and is
/// logged by name; it never fails the caller.
/// </summary>
public sealed partial class TerminalRegistry : ITerminals
{
    private readonly TerminalOptions _options;
    private readonly ITerminalSink[] _builtIn;
    private readonly ExtensionRegistry? _extensions;
    private readonly ILogger<TerminalRegistry> _logger;

    /// <summary>Creates the registry.</summary>
    /// <param name="options">The server's options (<see cref="MtaOptions.Terminal"/> is read).</param>
    /// <param name="builtIn">The built-in sinks, asked first.</param>
    /// <param name="extensions">Where plugins put their sinks; null for none.</param>
    /// <param name="logger">Where failing sinks are reported.</param>
    public TerminalRegistry(MtaOptions options, IEnumerable<ITerminalSink> builtIn, ExtensionRegistry? extensions, ILogger<TerminalRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Terminal;
        _builtIn = [.. builtIn];
        _extensions = extensions;
        _logger = logger;
    }

    /// <inheritdoc />
    public bool Enabled => _options.Enabled;

    /// <summary>Every sink asked, built-in first, then plugins' in registration order.</summary>
    public IReadOnlyList<ITerminalSink> Sinks => _extensions is { TerminalSinks.Count: > 0 } e ? [.. _builtIn, .. e.TerminalSinks] : _builtIn;

    /// <inheritdoc />
    /// <remarks>Sinks are asked at once; the answer is true as soon as one says so.</remarks>
    public async ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (!Enabled) return false;
        user = user.ToLowerInvariant();
        var pending = Sinks.Select(sink => IsActiveAsync(sink, user, cancellationToken)).ToList();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending);
            if (await done) return true;
            pending.Remove(done);
        }
        return false;
    }

    /// <inheritdoc />
    /// <remarks>Every sink where the user is active gets the message, all at once.</remarks>
    public async ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(message);
        if (!Enabled) return false;
        user = user.ToLowerInvariant();
        var results = await Task.WhenAll(Sinks.Select(async sink =>
            await IsActiveAsync(sink, user, cancellationToken) && await DeliverAsync(sink, user, message, cancellationToken)));
        return results.Any(r => r);
    }

    private Task<bool> IsActiveAsync(ITerminalSink sink, string user, CancellationToken cancellationToken) =>
        CallAsync(sink, "is-active", user, ct => sink.IsActiveAsync(user, ct), cancellationToken);

    private async Task<bool> DeliverAsync(ITerminalSink sink, string user, TerminalMessage message, CancellationToken cancellationToken)
    {
        var delivered = await CallAsync(sink, "deliver", user, ct => sink.DeliverAsync(user, message, ct), cancellationToken);
        if (delivered) LogDelivered(SinkName(sink), user);
        return delivered;
    }

    // One sink call: on the thread pool (a sink that blocks before its first await holds no caller's thread), bounded by
    // the sink timeout (a sink that ignores its token is abandoned, not awaited), and any failure is "false".
    private async Task<bool> CallAsync(ITerminalSink sink, string operation, string user, Func<CancellationToken, ValueTask<bool>> call,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.SinkTimeout);
        var token = timeout.Token;
        var task = Task.Run(async () => await call(token), CancellationToken.None);
        // Disposed when the call ends, not when we stop waiting: an abandoned sink may still use its token.
        _ = task.ContinueWith(_ => timeout.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            return await task.WaitAsync(_options.SinkTimeout, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(task, sink, operation, user);
            throw;
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && timeout.IsCancellationRequested))
        {
            LogTimedOut(SinkName(sink), operation, user, _options.SinkTimeout.TotalMilliseconds);
            Observe(task, sink, operation, user);
            return false;
        }
        catch (Exception ex)
        {
            LogFailed(ex, SinkName(sink), operation, user);
            return false;
        }
    }

    // An abandoned call may still fail later; its exception is logged instead of going unobserved.
    private void Observe(Task<bool> task, ITerminalSink sink, string operation, string user) =>
        _ = task.ContinueWith(t =>
        {
            if (t.Exception is { } ex && ex.GetBaseException() is not OperationCanceledException)
                LogFailed(ex.GetBaseException(), SinkName(sink), operation, user);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static string SinkName(ITerminalSink sink)
    {
        try
        {
            return sink.Name ?? sink.GetType().Name;
        }
        catch (Exception)
        {
            return sink.GetType().Name;
        }
    }

    [LoggerMessage(EventId = LogEvents.Terminal.SinkFailed, Level = LogLevel.Warning, Message = "terminal sink {Sink} failed ({Operation} for {User})")]
    private partial void LogFailed(Exception exception, string sink, string operation, string user);

    [LoggerMessage(EventId = LogEvents.Terminal.SinkTimedOut, Level = LogLevel.Warning, Message = "terminal sink {Sink} took longer than {TimeoutMs} ms ({Operation} for {User}); taken as no")]
    private partial void LogTimedOut(string sink, string operation, string user, double timeoutMs);

    [LoggerMessage(EventId = LogEvents.Terminal.Shown, Level = LogLevel.Information, Message = "terminal message shown to {User} by sink {Sink}")]
    private partial void LogDelivered(string sink, string user);
}
