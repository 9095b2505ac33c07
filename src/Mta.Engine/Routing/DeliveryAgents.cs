// The delivery agents the router hands recipients to, one per route kind, and the SMTP agent bound to one next hop.
using Mta.Abstractions;
using Mta.Engine.Delivery;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;

namespace Mta.Engine.Routing;

/// <summary>The server's delivery agents, by route kind (plugin agents are reached through <see cref="Plugins"/>); mailbox
/// routes go to <see cref="Lmtp"/> when <c>Mailboxes:Lmtp</c> is set, else to <see cref="Maildir"/>; a mailbox route whose name
/// is an alias goes to <see cref="Aliases"/> first; pipe routes to <see cref="Pipe"/> (null: pipe routes are an unknown route
/// kind and bounce, as in a host without pipe delivery).</summary>
internal sealed record DeliveryAgents(MaildirAgent Maildir, TerminalAgent Terminal, DiscardAgent Discard, PluginAgents Plugins,
    SmtpDeliveryAgent Smtp, LmtpAgent? Lmtp = null, PipeTransportAgent? Pipe = null, AliasAgent? Aliases = null);

/// <summary>Extensions binding the SMTP agent to the next hop the router chose.</summary>
internal static class SmtpDeliveryAgentExtensions
{
    /// <summary>The SMTP agent delivering to <paramref name="hop"/> (not re-selecting it from the route's target).</summary>
    public static IDeliveryAgent To(this SmtpDeliveryAgent smtp, NextHop hop) => new NextHopAgent(smtp, hop);

    private sealed class NextHopAgent(SmtpDeliveryAgent smtp, NextHop hop) : IDeliveryAgent
    {
        public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken) =>
            await smtp.DeliverAsync(hop, request, cancellationToken).ConfigureAwait(false);
    }
}
