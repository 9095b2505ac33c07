// The discard agent: a recipient routed to Discard is accepted and dropped, with the route's reason in the log.
using Mta.Abstractions;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers <see cref="RouteKind.Discard"/> routes by dropping the copy; the target is the reason, kept in the detail.
/// No success notice is sent for a dropped copy, whatever NOTIFY asked (<see cref="SuccessNotice.None"/>).
/// </summary>
internal sealed class DiscardAgent : IDeliveryAgent
{
    public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ValueTask.FromResult(request.ForAll(DeliveryOutcome.Delivered("discarded: " + request.Route.Target) with { Notice = SuccessNotice.None }));
    }
}
