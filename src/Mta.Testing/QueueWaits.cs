// Waiting for the running queue to have nothing to do now, for tests that commit mail and then look at its outcome.
using Mta.Engine.Queue;

namespace Mta.Testing;

/// <summary>Bounded waits on a running <see cref="QueueScheduler"/>.</summary>
public static class QueueWaits
{
    /// <summary>
    /// Returns once the queue is idle (<see cref="QueueScheduler.IsIdle"/>: every pending recipient final or waiting
    /// for its retry); throws <see cref="TimeoutException"/> after <paramref name="timeout"/> (30 s by default).
    /// A message whose commit has returned is already counted, so commit-then-wait is race free.
    /// </summary>
    public static Task WaitForIdleAsync(this QueueScheduler queue, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Conditions.WaitUntilAsync(() => queue.IsIdle, "an idle queue", timeout ?? TimeSpan.FromSeconds(30), cancellationToken);
}
