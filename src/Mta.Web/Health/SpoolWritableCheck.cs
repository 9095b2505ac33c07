// Ready only while the spool takes a write and an fsync: a 250 needs both, so a full or read-only disk is "not ready".
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mta.Engine.Configuration;

namespace Mta.Web.Health;

/// <summary>
/// Writes, syncs and removes one small file in the queue directory, as a commit would. The answer is kept for a second,
/// so probes from several balancers cost one write per second at most.
/// </summary>
internal sealed class SpoolWritableCheck(MtaPaths paths, TimeProvider time) : IHealthCheck
{
    private static readonly TimeSpan Reuse = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _one = new(1, 1);
    private (DateTimeOffset At, HealthCheckResult Result)? _last;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await _one.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (_last is { } last && now - last.At < Reuse) return last.Result;
            var result = await ProbeAsync(cancellationToken);
            _last = (now, result);
            return result;
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<HealthCheckResult> ProbeAsync(CancellationToken cancellationToken)
    {
        var directory = paths.QueueDirectory;
        var probe = Path.Combine(directory, ".readyz-probe");
        try
        {
            await using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                // A block's worth: on a full file system an empty file can still be created where data cannot be written.
                await file.WriteAsync(new byte[4096], cancellationToken);
                file.Flush(flushToDisk: true);
            }
            File.Delete(probe);
            return HealthCheckResult.Healthy($"{directory} is writable");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(probe); } catch (Exception) { }
            return HealthCheckResult.Unhealthy($"{directory} is not writable: {ex.Message}");
        }
    }
}
