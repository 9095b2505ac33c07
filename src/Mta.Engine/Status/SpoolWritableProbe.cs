// Whether the spool takes a write and an fsync now: a 250 needs both. Read by /readyz and by the cluster heartbeat.
using Mta.Engine.Configuration;

namespace Mta.Engine.Status;

/// <summary>
/// Writes, syncs and removes one small file in the queue directory, as a commit would. The answer is kept for a second,
/// so probes from several balancers and the heartbeat cost one write per second at most.
/// </summary>
public sealed class SpoolWritableProbe(MtaPaths paths, TimeProvider time)
{
    private static readonly TimeSpan Reuse = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _one = new(1, 1);
    private (DateTimeOffset At, bool Writable, string Description)? _last;

    /// <summary>Whether a block could be written and synced in the queue directory, and a sentence that says so or why not.</summary>
    public async Task<(bool Writable, string Description)> ProbeAsync(CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = time.GetUtcNow();
            if (_last is { } last && now - last.At < Reuse) return (last.Writable, last.Description);
            var (writable, description) = await WriteAsync(cancellationToken).ConfigureAwait(false);
            _last = (now, writable, description);
            return (writable, description);
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<(bool, string)> WriteAsync(CancellationToken cancellationToken)
    {
        var directory = paths.QueueDirectory;
        var probe = Path.Combine(directory, ".readyz-probe");
        try
        {
            await using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                // A block's worth: on a full file system an empty file can still be created where data cannot be written.
                await file.WriteAsync(new byte[4096], cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Delete(probe);
            return (true, $"{directory} is writable");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(probe); } catch (Exception) { }
            return (false, $"{directory} is not writable: {ex.Message}");
        }
    }
}
