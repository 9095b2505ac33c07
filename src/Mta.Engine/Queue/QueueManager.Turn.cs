// TURN (RFC 821): the queued mail of some domains, delivered over a connection a client handed us by reversing roles.
using Mta.Abstractions;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;

namespace Mta.Engine.Queue;

public sealed partial class QueueManager
{
    /// <summary>
    /// Delivers every pending recipient whose domain is one of <paramref name="domains"/> over
    /// <paramref name="connection"/>, one transaction per message, and records the outcomes as any delivery does
    /// (journal, DSNs, retry schedule). Only recipients waiting for a retry (deferred or held) are taken; one in
    /// delivery elsewhere, or just arrived, keeps its own path (a held one is deferred and waits for the next TURN).
    /// </summary>
    /// <returns>How many recipients the other side accepted.</returns>
    internal async Task<int> DeliverOverAsync(IReadOnlyCollection<string> domains, SmtpClientConnection connection, CancellationToken cancellationToken)
    {
        var wanted = new HashSet<string>(domains.Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        var delivered = 0;
        foreach (var message in _messages.Values.OrderBy(m => m.ReceivedAt).ToArray())
        {
            if (!connection.IsUsable) break;
            // Only recipients waiting in the schedule: one on its way through a worker (or already in the ready lane) keeps
            // its own path, so no recipient ever has two works in flight.
            var removed = _schedule.RemoveWhere(w => ReferenceEquals(w.Message, message));
            int[] candidates;
            lock (message.Gate)
            {
                candidates = removed.SelectMany(w => w.Indexes).Distinct()
                    .Where(i => message.Tracks[i].State == RecipientState.Deferred
                                && wanted.Contains(message.Recipients[i].Address.Domain.TrimEnd('.')))
                    .ToArray();
            }
            // What else the schedule held for this message goes back at its time.
            foreach (var work in removed)
            {
                var rest = work.Indexes.Except(candidates).ToArray();
                if (rest.Length > 0) ScheduleAgain(work with { Indexes = rest });
            }
            if (candidates.Length == 0) continue;
            var claimed = message.Claim(candidates, RecipientState.Active, RecipientState.Deferred);
            if (claimed.Length == 0) continue;
            lock (_idleGate) _busy++;
            try
            {
                var unit = new PassOutcomes(message);
                var route = new Route(RouteKind.Remote, "turn:" + connection.Target.HostName);
                var request = new DeliveryRequest(message, claimed.Select(i => message.Recipients[i]).ToArray(), route);
                await DeliverBatchAsync(unit, route, claimed, ct => _remote.DeliverOverAsync(connection, request, ct), cancellationToken).ConfigureAwait(false);
                delivered += unit.DeliveredCount;
                await CompleteAsync(unit, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ReleaseBusy();
            }
        }
        return delivered;
    }
}
