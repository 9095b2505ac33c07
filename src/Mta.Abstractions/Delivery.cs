// The sending side's hooks: route each recipient, deliver, and observe the outcome.
namespace Mta.Abstractions;

/// <summary>A message held in the durable queue.</summary>
public interface IQueuedMessage
{
    /// <summary>The queue id given to the client in <c>250 ... queued as ID</c>.</summary>
    string QueueId { get; }

    /// <summary>When the message was accepted.</summary>
    DateTimeOffset ReceivedAt { get; }

    /// <summary>MAIL, SEND, SOML or SAML.</summary>
    TransactionKind Kind { get; }

    /// <summary>The reverse-path; <see cref="SmtpAddress.Null"/> for a bounce.</summary>
    SmtpAddress ReversePath { get; }

    /// <summary>All recipients of the message, delivered or not.</summary>
    IReadOnlyList<EnvelopeRecipient> Recipients { get; }

    /// <summary>The stored message, with the Received field the server added.</summary>
    IMessageContent Content { get; }
}

/// <summary>Where a recipient's copy goes.</summary>
public enum RouteKind
{
    /// <summary>A local Maildir; the target is the mailbox user name.</summary>
    Mailbox,
    /// <summary>Another MTA; the target is the destination domain or host.</summary>
    Remote,
    /// <summary>A user's terminal (SEND, SOML, SAML); the target is the user name.</summary>
    Terminal,
    /// <summary>Accept and drop; the target is a reason kept in logs.</summary>
    Discard,
    /// <summary>A delivery agent added by a plugin; the target is the agent's name.</summary>
    Agent,
    /// <summary>A configured pipe transport (<c>Transports:Pipes:NAME</c>): its command is run once per recipient with the
    /// message on standard input; the target is the transport's name.</summary>
    Pipe,
}

/// <summary>A routing decision.</summary>
/// <param name="Kind">The kind of destination.</param>
/// <param name="Target">User, domain or host, depending on <paramref name="Kind"/>.</param>
public sealed record Route(RouteKind Kind, string Target);

/// <summary>
/// Routing of one recipient. To decide, call <see cref="RouteTo"/> and return Accept; Reject bounces the
/// recipient, Defer retries later; Continue leaves it to the built-in router (local domains to Maildir).
/// </summary>
public sealed record RouteContext(IQueuedMessage Message, EnvelopeRecipient Recipient) : HookContext
{
    /// <summary>The route chosen by a handler, or null.</summary>
    public Route? ChosenRoute { get; private set; }

    /// <summary>Chooses the route; pair it with <see cref="HookResult.Accept()"/>.</summary>
    public void RouteTo(Route route) => ChosenRoute = route ?? throw new ArgumentNullException(nameof(route));
}

/// <summary>
/// About to deliver one recipient's copy along its route. Accept means the handler delivered it
/// itself; Reject bounces the recipient; Defer retries later; Continue delivers as usual.
/// </summary>
public sealed record DeliverContext(IQueuedMessage Message, EnvelopeRecipient Recipient, Route Route) : HookContext;

/// <summary>A recipient's copy was delivered. Observe only.</summary>
public sealed record DeliveredContext(IQueuedMessage Message, EnvelopeRecipient Recipient, Route Route, string Detail) : HookContext;

/// <summary>A recipient's delivery failed temporarily and will be retried. Observe only.</summary>
public sealed record DeferredContext(IQueuedMessage Message, EnvelopeRecipient Recipient, string Reason, DateTimeOffset NextAttempt) : HookContext;

/// <summary>A recipient's delivery failed permanently. Observe only.</summary>
public sealed record BouncedContext(IQueuedMessage Message, EnvelopeRecipient Recipient, string Reason) : HookContext;
