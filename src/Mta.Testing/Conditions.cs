// One bounded wait for a condition that other threads make true, shared by every test project.
namespace Mta.Testing;

/// <summary>
/// Polls a condition until it holds or a deadline passes. For state that a server changes on its own threads (a
/// connection count dropping after a close, a hook having seen N messages), where no event to await exists.
/// </summary>
public static class Conditions
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(10);

    /// <summary>Returns once <paramref name="condition"/> is true; throws <see cref="TimeoutException"/> naming
    /// <paramref name="what"/> when it is still false after <paramref name="timeout"/> (10 s by default).</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string? what = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
        => WaitUntilAsync(() => Task.FromResult(condition()), what, timeout, cancellationToken);

    /// <inheritdoc cref="WaitUntilAsync(Func{bool}, string?, TimeSpan?, CancellationToken)"/>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string? what = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow >= deadline)
                throw new TimeoutException($"{what ?? "condition"} not reached within {limit.TotalSeconds:0.#} s");
            await Task.Delay(Interval, cancellationToken).ConfigureAwait(false);
        }
    }
}
