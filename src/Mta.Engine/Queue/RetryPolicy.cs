// When a deferred recipient is tried again, and when it has been in the queue too long: Postfix's backoff rule.
using Mta.Engine.Configuration;

namespace Mta.Engine.Queue;

/// <summary>
/// The long-term retry schedule. As in Postfix's queue manager, the wait before the next attempt is the message's
/// age, clamped between <see cref="QueueOptions.MinRetryDelay"/> and <see cref="QueueOptions.MaxRetryDelay"/>: young
/// mail is retried often, old mail about once an hour. No attempt is scheduled past the end of the message's lifetime:
/// the last one happens at its expiry, and a failure then bounces.
/// </summary>
public static class RetryPolicy
{
    /// <summary>When to try again after a temporary failure at <paramref name="now"/>.</summary>
    public static DateTimeOffset NextAttempt(DateTimeOffset receivedAt, DateTimeOffset now, QueueOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var age = now - receivedAt;
        var delay = age < options.MinRetryDelay ? options.MinRetryDelay : age > options.MaxRetryDelay ? options.MaxRetryDelay : age;
        var next = now + delay;
        var expires = ExpiresAt(receivedAt, options);
        return next > expires ? expires : next;
    }

    /// <summary>The end of the message's lifetime in the queue.</summary>
    public static DateTimeOffset ExpiresAt(DateTimeOffset receivedAt, QueueOptions options) => receivedAt + options.MaxLifetime;

    /// <summary>True when a temporary failure at <paramref name="now"/> must become permanent.</summary>
    public static bool IsExpired(DateTimeOffset receivedAt, DateTimeOffset now, QueueOptions options) => now >= ExpiresAt(receivedAt, options);

    /// <summary>True when a "delayed" DSN is due: warnings are on and the message has waited at least that long.</summary>
    public static bool IsDelayWarningDue(DateTimeOffset receivedAt, DateTimeOffset now, QueueOptions options) =>
        options.DelayWarningAfter is { } after && now - receivedAt >= after;
}
