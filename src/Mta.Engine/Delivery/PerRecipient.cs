// Local agents deliver each recipient's copy on its own: one loop for all of them.
using Mta.Abstractions;

namespace Mta.Engine.Delivery;

/// <summary>Runs a one-recipient delivery for each recipient of a request, in order, into one result.</summary>
internal static class PerRecipient
{
    public static async ValueTask<DeliveryResult> DeliverEachAsync(DeliveryRequest request,
        Func<EnvelopeRecipient, CancellationToken, ValueTask<DeliveryOutcome>> deliverOne, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var outcomes = new DeliveryOutcome[request.Recipients.Count];
        for (var i = 0; i < outcomes.Length; i++)
            outcomes[i] = await deliverOne(request.Recipients[i], cancellationToken).ConfigureAwait(false);
        return new DeliveryResult(outcomes);
    }
}
