// SIGHUP (logrotate, `systemctl reload`) reloads the configuration instead of ending the process.
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Reload;

/// <summary>
/// Handles SIGHUP for the host's lifetime: the signal's default action (ending the process) is cancelled and one reload
/// runs. Signals that arrive during a reload fold into one more reload after it, so a burst of them never queues up work.
/// </summary>
public sealed partial class ReloadSignal(ReloadCoordinator coordinator, ILogger<ReloadSignal> logger) : IHostedService, IDisposable
{
    private readonly Channel<bool> _requests = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private PosixSignalRegistration? _registration;
    private Task? _loop;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                _requests.Writer.TryWrite(true);
            });
        }
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _requests.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                _requests.Reader.TryRead(out _);
                LogRequested();
                try
                {
                    await coordinator.ReloadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The coordinator logs refusals itself; this is a fault of its own, and the server must go on.
                    LogFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The signal keeps its handler (ignored) until the process ends: a SIGHUP during shutdown must not kill it mid-way.
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _registration?.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = LogEvents.Reload.Requested, Level = LogLevel.Information, Message = "SIGHUP: reloading the configuration")]
    private partial void LogRequested();

    [LoggerMessage(EventId = LogEvents.Reload.Failed, Level = LogLevel.Error, Message = "reload failed")]
    private partial void LogFailed(Exception exception);
}
