// The terminal delivery agent (RFC 821 SEND, SOML, SAML): shows the message on the user's terminals, with the mailbox as the fallback.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Terminal;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers <see cref="RouteKind.Terminal"/> routes; the target is the user. What happens depends on the message's
/// <see cref="IQueuedMessage.Kind"/>: SAML goes to the terminal and to the mailbox as well (RFC 821 3.4); SOML goes to
/// the mailbox when the user left every terminal between routing and now; SEND has nowhere else to go and bounces
/// (<c>5.2.1</c>). With terminal delivery off the recipient waits (<c>4.3.2</c>): the operator may turn it on again.
/// </summary>
internal sealed class TerminalAgent(ITerminals? terminals, MaildirAgent mailbox, MtaOptions options, ILogger<TerminalAgent> logger) : IDeliveryAgent
{
    /// <summary>The deferral reason while terminal delivery is off.</summary>
    internal const string NotAvailable = "no terminal delivery configured";

    /// <summary>The bounce reason of a SEND whose user left, after the user name.</summary>
    internal const string Gone = "is no longer logged in on any terminal";

    public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken) =>
        PerRecipient.DeliverEachAsync(request, (recipient, ct) => DeliverOneAsync(request.Message, recipient, request.Route.Target, ct),
            cancellationToken);

    private async ValueTask<DeliveryOutcome> DeliverOneAsync(IQueuedMessage message, EnvelopeRecipient recipient, string user,
        CancellationToken cancellationToken)
    {
        if (terminals is not { Enabled: true }) return DeliveryOutcome.Deferred("4.3.2", "4.3.2 " + NotAvailable);
        bool shown;
        try
        {
            var text = await TerminalText.FromMessageAsync(message, options.Terminal.MaxTextBytes, cancellationToken).ConfigureAwait(false);
            shown = await terminals.DeliverAsync(user, text, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LocalDeliveryLog.Failed(logger, ex, message.QueueId, recipient.Address.ToString(), "terminal:" + user);
            return DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message);
        }
        if (message.Kind == TransactionKind.SendAndMail || (!shown && message.Kind != TransactionKind.Send))
        {
            var copy = await mailbox.DeliverOneAsync(message, recipient, user, cancellationToken).ConfigureAwait(false);
            return shown ? copy with { Detail = "terminal and " + copy.Detail } : copy;
        }
        return shown ? DeliveryOutcome.Delivered("terminal " + user) : DeliveryOutcome.Failed("5.2.1", $"5.2.1 {user} {Gone}");
    }
}
