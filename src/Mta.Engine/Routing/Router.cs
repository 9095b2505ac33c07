// Delivery-time routing of one recipient: the route hook, the built-in routes and the deliver hook, ending in a typed route or a hook's outcome.
using System.Globalization;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Spool;

namespace Mta.Engine.Routing;

/// <summary>
/// A route the scheduler can act on: the route as hooks and logs see it, the agent that delivers it, and the
/// destination whose concurrency window it counts against.
/// </summary>
/// <param name="Route">The public route (kind and target); for SMTP the target is the next hop's name.</param>
/// <param name="Agent">The delivery agent.</param>
/// <param name="Destination">What deliveries share a window and a transaction: the next hop's key for SMTP, the kind
/// and target otherwise.</param>
/// <param name="Window">How many deliveries to <paramref name="Destination"/> may run at once.</param>
/// <param name="Hop">The next hop, for SMTP.</param>
internal sealed record DeliveryRoute(Route Route, IDeliveryAgent Agent, string Destination, int Window, NextHop? Hop = null)
{
    /// <summary>A held destination (a domain we are backup MX for) waits until its server asks with ETRN or TURN.</summary>
    public bool Held => Hop is { Hold: true };
}

/// <summary>What the router decided for one recipient: a route to deliver on, or an outcome a hook already gave.</summary>
/// <param name="Route">The route, when the recipient is to be delivered.</param>
/// <param name="Outcome">The outcome, when a hook decided it (rejected, deferred, or delivered by the hook itself).</param>
/// <param name="HookRoute">The route a deliver hook refused or took over, for the log; null when the route hook decided.</param>
internal readonly record struct RoutingDecision(DeliveryRoute? Route, DeliveryOutcome? Outcome, Route? HookRoute);

/// <summary>
/// Routes each recipient at delivery time, as Postfix's trivial-rewrite does for qmgr. The route hook decides first
/// (Accept with a chosen route, Reject, Defer, or Continue to the built-in routes); the built-in routes send local
/// domains and the bare postmaster to a Maildir (or to a terminal for SEND, SOML and SAML) and every other domain to
/// its SMTP next hop. The deliver hook then sees the route and may refuse it or deliver the copy itself. Agents and
/// their destinations are fixed here, so the scheduler deals only in typed routes.
/// </summary>
internal sealed class Router
{
    internal const string UnknownRouteKind = "unknown route kind {0}";

    private readonly HookPipeline _hooks;
    private readonly NextHopSelector _hops;
    private readonly DeliveryAgents _agents;
    private readonly Terminal.ITerminals? _terminals;
    private readonly Reload.LiveSettings _live;
    private readonly Dictionary<string, string> _transportDomains;
    private readonly string _postmaster;
    private readonly int _remoteWindow;
    private readonly Maps.VirtualMaps? _virtual;

    public Router(MtaOptions options, HookPipeline hooks, NextHopSelector hops, DeliveryAgents agents, Terminal.ITerminals? terminals = null,
        Reload.LiveSettings? live = null, Maps.VirtualMaps? virtualMaps = null)
    {
        _virtual = virtualMaps;
        _hooks = hooks;
        _hops = hops;
        _agents = agents;
        _terminals = terminals;
        // LocalDomains as a reload leaves them; the rest is fixed at start.
        _live = live ?? new Reload.LiveSettings(options);
        _transportDomains = TransportDomains(options);
        _postmaster = options.Mailboxes.Postmaster;
        _remoteWindow = options.Relay.Resilience.DestinationConcurrency;
    }

    /// <summary>Routes one recipient: a typed route, or the outcome a route or deliver hook gave.</summary>
    public async ValueTask<RoutingDecision> RouteAsync(ISpooledMessage message, EnvelopeRecipient recipient, CancellationToken cancellationToken)
    {
        var routing = new RouteContext(message, recipient);
        var routed = await _hooks.RunAsync(routing, cancellationToken).ConfigureAwait(false);
        var route = routed.Result.Decision switch
        {
            HookDecision.Continue => await BuiltInRouteAsync(message, recipient, cancellationToken).ConfigureAwait(false),
            HookDecision.Accept => routing.ChosenRoute ?? await BuiltInRouteAsync(message, recipient, cancellationToken).ConfigureAwait(false),
            _ => null,
        };
        if (route is null) return new RoutingDecision(null, FromHook(routed, "route"), null);

        var delivering = await _hooks.RunAsync(new DeliverContext(message, recipient, route), cancellationToken).ConfigureAwait(false);
        if (!delivering.IsContinue) return new RoutingDecision(null, FromHook(delivering, "deliver"), route);

        return Typed(route) is { } typed
            ? new RoutingDecision(typed, null, null)
            : new RoutingDecision(null, DeliveryOutcome.Failed("5.3.0", "5.3.0 " + string.Format(CultureInfo.InvariantCulture, UnknownRouteKind, route.Kind)), route);
    }

    /// <summary>
    /// The destination mail for <paramref name="domain"/> goes to by the built-in routes alone (no hooks, no DNS): the
    /// next hop's key for a remote domain, <c>pipe:NAME</c> for a pipe transport's domain; null for a local one. The
    /// operator's status uses it for recipients not yet tried, whose real route is known only at delivery.
    /// </summary>
    internal string? ExpectedDestination(string domain)
    {
        if (domain.Length == 0 || (_virtual is not null && _virtual.IsMailboxDomain(domain))) return null;
        if (_transportDomains.TryGetValue(domain, out var transport)) return "pipe:" + transport;
        return _live.Current.LocalDomains.Contains(domain) ? null : _hops.Select(domain).Key;
    }

    /// <summary>The agent and destination of a route; null for a route kind no agent serves.</summary>
    private DeliveryRoute? Typed(Route route)
    {
        switch (route.Kind)
        {
            case RouteKind.Remote:
                var hop = _hops.Select(route.Target);
                return new DeliveryRoute(new Route(RouteKind.Remote, hop.Name), _agents.Smtp.To(hop), hop.Key, _remoteWindow, hop);
            case RouteKind.Mailbox:
                // An alias name is expanded first (local(8)'s alias step); its local users come back to the mailbox agent.
                if (_agents.Aliases is { } aliases && aliases.Handles(route.Target)) return Local(route, aliases);
                return Local(route, _agents.Lmtp as IDeliveryAgent ?? _agents.Maildir);
            case RouteKind.Terminal:
                return Local(route, _agents.Terminal);
            case RouteKind.Discard:
                return Local(route, _agents.Discard);
            case RouteKind.Agent:
                return Local(route, _agents.Plugins);
            case RouteKind.Pipe:
                return _agents.Pipe is { } pipe ? Local(route, pipe) : null;
            default:
                return null;
        }
    }

    // Local agents are bounded by the delivery workers alone, as Postfix's local(8) is by its process limit.
    private static DeliveryRoute Local(Route route, IDeliveryAgent agent) =>
        new(route, agent, route.Kind.ToString().ToLowerInvariant() + ":" + route.Target, int.MaxValue);

    /// <summary>
    /// Domains of a pipe transport go to that transport; local domains (and the bare postmaster) go to a Maildir,
    /// everything else to a remote route. SEND goes to the
    /// user's terminal; SOML and SAML to the terminal when the user is active there (SAML's terminal delivery also
    /// fills the mailbox), else to the mailbox. A route hook that picks the mailbox for SOML or SAML keeps the message
    /// off the terminal: that is how a policy vetoes terminal delivery.
    /// </summary>
    private async ValueTask<Route> BuiltInRouteAsync(IQueuedMessage message, EnvelopeRecipient recipient, CancellationToken ct)
    {
        var address = recipient.Address;
        if (_virtual is not null && _virtual.IsMailboxDomain(address.Domain))
        {
            // A virtual mailbox: ROOT/DOMAIN/USER, or the full address for an LMTP server.
            if (_agents.Lmtp is not null) return new Route(RouteKind.Mailbox, address.LocalPart + "@" + address.Domain);
            return new Route(RouteKind.Mailbox, address.Domain.TrimEnd('.').ToLowerInvariant() + "/" + MailboxUser(address.LocalPart));
        }
        if (address.Domain.Length > 0 && _transportDomains.TryGetValue(address.Domain, out var transport))
            return new Route(RouteKind.Pipe, transport);
        if (address.Domain.Length > 0 && !_live.Current.LocalDomains.Contains(address.Domain))
            return new Route(RouteKind.Remote, address.Domain);
        var user = address.IsPostmaster ? _postmaster : MailboxUser(address.LocalPart);
        // An LMTP server knows its users by the address as received (RCPT TO carries the original address anyway).
        if (_agents.Lmtp is not null && message.Kind == TransactionKind.Mail)
            return new Route(RouteKind.Mailbox, address.Domain.Length > 0 ? address.LocalPart + "@" + address.Domain : user);
        return message.Kind switch
        {
            TransactionKind.Send => new Route(RouteKind.Terminal, user),
            TransactionKind.SendOrMail or TransactionKind.SendAndMail
                when _terminals is { Enabled: true } && await _terminals.IsActiveAsync(user, ct).ConfigureAwait(false)
                => new Route(RouteKind.Terminal, user),
            _ => new Route(RouteKind.Mailbox, user),
        };
    }

    /// <summary>The domains of the pipe transports (<c>Transports:Pipes:NAME:Domains</c>), each to its transport's name.</summary>
    internal static Dictionary<string, string> TransportDomains(MtaOptions options)
    {
        var domains = new Dictionary<string, string>(Domain.NameComparer);
        foreach (var (name, pipe) in options.Transports.Pipes)
            foreach (var domain in pipe.Domains)
                domains.TryAdd(Domain.TryParse(domain, out var d) ? d.Name : domain, name);
        return domains;
    }

    /// <summary>The mailbox of a local part, by the mailbox policy in service.</summary>
    private string MailboxUser(string localPart) => _live.Current.Recipients.Mailboxes.MailboxOf(localPart);

    /// <summary>A hook's decision as a delivery outcome: Accept delivered (by the hook), Reject failed, anything else deferred.</summary>
    private static DeliveryOutcome FromHook(HookOutcome outcome, string hook)
    {
        var r = outcome.Result;
        var text = $"{hook} hook {outcome.HandlerName}: {r.Code} {r.EnhancedCode} {r.Text}".Replace("  ", " ", StringComparison.Ordinal).TrimEnd();
        return r.Decision switch
        {
            HookDecision.Accept => DeliveryOutcome.Delivered(text),
            HookDecision.Reject => new DeliveryOutcome(DeliveryStatus.Failed, DeliveryOutcome.StatusOrGeneric(r.EnhancedCode, DeliveryStatus.Failed), text),
            // Disconnect has no meaning here; treat it like a temporary refusal rather than losing mail.
            _ => new DeliveryOutcome(DeliveryStatus.Deferred, DeliveryOutcome.StatusOrGeneric(r.EnhancedCode, DeliveryStatus.Deferred), text),
        };
    }
}
