// The destinations view: circuit state from the SMTP agent's breakers, pending recipients and next attempts from the queue, errors from the journal.
using Mta.Engine.Outbound;
using Mta.Engine.Routing;
using Mta.Engine.Status;

namespace Mta.Engine.Queue;

/// <summary>
/// Answers <see cref="IDestinationStatus"/> from where the data lives. One walk over the queued messages counts each
/// recipient not yet final under the destination of its last attempt (or, when it has had none since start, the one
/// its domain routes to by the built-in routes) and finds each destination's earliest retry; the journal's
/// <see cref="DestinationErrors"/> adds the destinations that failed within <see cref="RecentErrorWindow"/>; each
/// SMTP destination's circuit comes from its Polly breaker. The walk costs one pass over the queue and no copy of it.
/// </summary>
internal sealed class DestinationStatus : IDestinationStatus
{
    /// <summary>How far back an error keeps a destination with nothing pending on the list.</summary>
    public static readonly TimeSpan RecentErrorWindow = TimeSpan.FromHours(1);

    /// <summary>The most destinations listed: a page, even for a queue spread over many domains.</summary>
    public const int MaxDestinations = 500;

    private readonly QueueScheduler _scheduler;
    private readonly Router _router;
    private readonly SmtpDeliveryAgent _smtp;
    private readonly DestinationErrors _errors;
    private readonly TimeProvider _time;

    public DestinationStatus(QueueScheduler scheduler, Router router, SmtpDeliveryAgent smtp, DestinationErrors errors, TimeProvider time)
    {
        _scheduler = scheduler;
        _router = router;
        _smtp = smtp;
        _errors = errors;
        _time = time;
    }

    /// <inheritdoc />
    public IReadOnlyList<DestinationSnapshot> Destinations()
    {
        var tally = new Dictionary<string, (int Pending, DateTimeOffset? Next)>(StringComparer.OrdinalIgnoreCase);
        // Routing a domain is the same for all its recipients: once per domain and call.
        var expected = new Dictionary<string, string?>(Mta.Abstractions.Domain.NameComparer);
        foreach (var message in _scheduler.InArrivalOrder)
        {
            lock (message.Gate)
            {
                for (var i = 0; i < message.Tracks.Length; i++)
                {
                    var track = message.Tracks[i];
                    if (track.State == RecipientState.Final) continue;
                    var destination = track.Destination;
                    if (destination is null)
                    {
                        var domain = message.Recipients[i].Address.Domain;
                        if (!expected.TryGetValue(domain, out destination)) expected[domain] = destination = _router.ExpectedDestination(domain);
                        if (destination is null) continue;
                    }
                    tally.TryGetValue(destination, out var entry);
                    entry.Pending++;
                    if (track.State == RecipientState.Deferred && track.NextAttempt is { } next && (entry.Next is null || next < entry.Next))
                        entry.Next = next;
                    tally[destination] = entry;
                }
            }
        }
        foreach (var (destination, _, _) in _errors.Since(_time.GetUtcNow() - RecentErrorWindow))
            tally.TryAdd(destination, (0, null));

        return tally.OrderByDescending(t => t.Value.Pending).ThenBy(t => t.Key, StringComparer.OrdinalIgnoreCase)
            .Take(MaxDestinations)
            .Select(t =>
            {
                var error = _errors.Of(t.Key);
                return new DestinationSnapshot(t.Key, _smtp.FindDestination(t.Key)?.CircuitName ?? "closed", t.Value.Pending,
                    error?.Error, error?.At, t.Value.Next);
            })
            .ToArray();
    }
}
