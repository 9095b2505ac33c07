// Where mail is going and how each destination is doing, for the console's "destinations" page.
namespace Mta.Engine.Status;

/// <summary>
/// Per destination (an SMTP next hop, or a local route): its circuit breaker, the recipients waiting for it, its last
/// error and when it is tried next. Covers the destinations with mail pending or an error in the last hour, bounded
/// (the engine's gives at most 500, those with the most pending first), so a queue spread over many domains stays one page.
/// </summary>
public interface IDestinationStatus
{
    /// <summary>The destinations, most pending recipients first, then by name.</summary>
    IReadOnlyList<DestinationSnapshot> Destinations();
}

/// <summary>One destination as the operator sees it.</summary>
/// <param name="Destination">Its name: the next hop's key for SMTP (a domain, <c>[host]:port</c> for a route or smart
/// host), <c>kind:target</c> for a local route (<c>mailbox:alice</c>).</param>
/// <param name="CircuitState"><c>closed</c> (mail flows), <c>open</c> (taken for dead: its mail is deferred without an
/// attempt) or <c>half-open</c> (one trial attempt may go), from its Polly circuit breaker; local routes are always closed.</param>
/// <param name="PendingRecipients">Recipients not yet final whose last attempt went to it, or that will go to it (by
/// their domain) when they have had none.</param>
/// <param name="LastError">The last temporary or permanent failure there, or null.</param>
/// <param name="LastErrorAt">When <paramref name="LastError"/> happened.</param>
/// <param name="NextAttempt">The earliest scheduled retry of its deferred recipients, or null when none waits.</param>
public sealed record DestinationSnapshot(string Destination, string CircuitState, int PendingRecipients, string? LastError,
    DateTimeOffset? LastErrorAt, DateTimeOffset? NextAttempt);
