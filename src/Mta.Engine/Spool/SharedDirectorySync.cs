// Group commit for directory fsyncs: concurrent renames into one folder share a single fsync of it.
namespace Mta.Engine.Spool;

/// <summary>
/// A caller that has just created or renamed a file in a folder asks for the folder to be synced; every caller
/// that asked before a sync started is covered by that sync, so N concurrent deliveries cost one fsync, not N.
/// </summary>
public sealed class SharedDirectorySync
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, State> _folders = new(StringComparer.Ordinal);

    private sealed class State
    {
        public TaskCompletionSource? Waiting;
        public bool Syncing;
    }

    /// <summary>Completes once a sync of <paramref name="folder"/> that started after this call has finished.</summary>
    public Task SyncAsync(string folder)
    {
        lock (_gate)
        {
            if (!_folders.TryGetValue(folder, out var state)) _folders[folder] = state = new State();
            var waiter = state.Waiting ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!state.Syncing)
            {
                state.Syncing = true;
                _ = Task.Run(() => Drain(folder, state));
            }
            return waiter.Task;
        }
    }

    private void Drain(string folder, State state)
    {
        while (true)
        {
            TaskCompletionSource batch;
            lock (_gate)
            {
                if (state.Waiting is null)
                {
                    state.Syncing = false;
                    _folders.Remove(folder);
                    return;
                }
                // Everyone waiting now renamed before this point, so the sync below covers them all.
                batch = state.Waiting;
                state.Waiting = null;
            }
            try
            {
                DurableIo.FlushDirectory(folder);
                batch.SetResult();
            }
            catch (Exception ex)
            {
                batch.SetException(ex);
            }
        }
    }
}
