// What a plugin or script gets from the host: registration, its settings, a state store, logging, the queue.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mta.Abstractions;

/// <summary>
/// The entry point of a plugin assembly: one public, non-abstract class with a public parameterless
/// constructor. The host creates it once at start, in configured order, and calls <see cref="Register"/>.
/// </summary>
public interface IMtaPlugin
{
    /// <summary>Registers hook handlers, delivery agents and terminal sinks. Throwing here stops start-up
    /// (or skips the plugin when it is configured optional).</summary>
    void Register(IPluginContext context);
}

/// <summary>The host's services as a plugin sees them.</summary>
public interface IPluginContext
{
    /// <summary>The plugin's configured name (its key under <c>Plugins</c> in mta.config.json).</summary>
    string Name { get; }

    /// <summary>The folder the plugin was loaded from (for files it ships).</summary>
    string Directory { get; }

    /// <summary>The plugin's own settings: <c>Plugins:NAME:Settings</c>. Empty when none are given.</summary>
    IConfiguration Settings { get; }

    /// <summary>Where handlers are added; they run in plugin order, then registration order.</summary>
    IHookRegistrar Hooks { get; }

    /// <summary>State kept across invocations for this plugin (process lifetime).</summary>
    IStateStore State { get; }

    /// <summary>A logger named after the plugin.</summary>
    ILogger Logger { get; }

    /// <summary>Puts a new message into the durable queue (e.g. a mailing-list expansion or a notification).</summary>
    IMessageSubmitter Queue { get; }

    /// <summary>The server's DNS resolver (configured servers, shared TTL cache), e.g. for DNS blocklist lookups.</summary>
    IDnsResolver Dns { get; }

    /// <summary>Adds a delivery agent: recipients routed to <c>Route(RouteKind.Agent, name)</c> go to it.</summary>
    void AddDeliveryAgent(string name, IDeliveryAgent agent);

    /// <summary>Adds a terminal sink for SEND, SOML and SAML delivery.</summary>
    void AddTerminalSink(ITerminalSink sink);
}

/// <summary>
/// A small key-value store shared by all invocations of one plugin or script (and kept across a script's
/// reloads). Thread-safe. Values live in memory for the life of the process; an entry with a time to live
/// disappears after it. Keep what must survive a restart in a file of your own.
/// </summary>
public interface IStateStore
{
    /// <summary>Gets a live value of type <typeparamref name="T"/>.</summary>
    bool TryGet<T>(string key, out T? value);

    /// <summary>Sets a value, replacing any; <paramref name="timeToLive"/> null keeps it until removed.</summary>
    void Set<T>(string key, T value, TimeSpan? timeToLive = null);

    /// <summary>Removes a value; returns whether one was there.</summary>
    bool Remove(string key);

    /// <summary>Adds <paramref name="delta"/> to a counter (created at 0) and returns the new value. The time to
    /// live starts when the counter is created, which makes fixed-window rate limits one call.</summary>
    long Increment(string key, long delta = 1, TimeSpan? timeToLive = null);
}

/// <summary>Submits new messages to the durable queue.</summary>
public interface IMessageSubmitter
{
    /// <summary>Spools a message (fsync'd before this returns) and returns its queue id.</summary>
    /// <param name="reversePath">The envelope sender; <see cref="SmtpAddress.Null"/> for notifications.</param>
    /// <param name="recipients">At least one recipient.</param>
    /// <param name="message">The complete message (header and body, CRLF line endings).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken);

    /// <summary>Spools a message as <see cref="SubmitAsync(SmtpAddress, IReadOnlyList{EnvelopeRecipient}, ReadOnlyMemory{byte}, CancellationToken)"/>
    /// does, signed and sealed as <paramref name="options"/> asks. A submitter that cannot sign spools it unsigned.</summary>
    /// <param name="reversePath">The envelope sender; <see cref="SmtpAddress.Null"/> for notifications.</param>
    /// <param name="recipients">At least one recipient.</param>
    /// <param name="message">The complete message (header and body, CRLF line endings).</param>
    /// <param name="options">Which domain signs it, and whether to add an ARC set.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        SubmitOptions options, CancellationToken cancellationToken)
        => SubmitAsync(reversePath, recipients, message, cancellationToken);
}

/// <summary>How a submitted message is signed before it is queued.</summary>
public sealed record SubmitOptions
{
    /// <summary>No ARC set; DKIM-signed by the reverse-path's domain when the server has a key for it.</summary>
    public static SubmitOptions Default { get; } = new();

    /// <summary>The domain whose DKIM key signs the message (and seals the ARC set). Null: the reverse-path's domain.
    /// The message goes unsigned when the server has no key for the domain.</summary>
    public string? SigningDomain { get; init; }

    /// <summary>Add an ARC set (RFC 8617) before the DKIM signature: this server's own <c>Authentication-Results</c> of
    /// the message as it was received become the <c>ARC-Authentication-Results</c>, the chain so far is validated for
    /// <c>cv=</c>, and the set is sealed with <see cref="SigningDomain"/>'s key. For lists and forwarders, whose changes
    /// break the author's DKIM signature. Defaults to false.</summary>
    public bool ArcSeal { get; init; }
}

/// <summary>Delivers recipients routed to it (<see cref="RouteKind.Agent"/>).</summary>
public interface IDeliveryAgent
{
    /// <summary>Delivers one recipient's copy. Throwing counts as a temporary failure.</summary>
    ValueTask<DeliveryOutcome> DeliverAsync(IQueuedMessage message, EnvelopeRecipient recipient, Route route, CancellationToken cancellationToken);
}

/// <summary>How a delivery attempt ended.</summary>
public enum DeliveryStatus
{
    /// <summary>Done; the recipient is final.</summary>
    Delivered,
    /// <summary>Temporary failure; retried later.</summary>
    Deferred,
    /// <summary>Permanent failure; the recipient bounces.</summary>
    Failed,
}

/// <summary>The result of a delivery attempt, with a human-readable detail for logs and bounces.</summary>
public sealed record DeliveryOutcome(DeliveryStatus Status, string Detail)
{
    /// <summary>Delivered.</summary>
    public static DeliveryOutcome Delivered(string detail) => new(DeliveryStatus.Delivered, detail);
    /// <summary>Try again later.</summary>
    public static DeliveryOutcome Deferred(string reason) => new(DeliveryStatus.Deferred, reason);
    /// <summary>Give up: the recipient bounces.</summary>
    public static DeliveryOutcome Failed(string reason) => new(DeliveryStatus.Failed, reason);
}

/// <summary>Shows messages on users' terminals (RFC 821 SEND, SOML, SAML).</summary>
public interface ITerminalSink
{
    /// <summary>The sink's name for logs.</summary>
    string Name { get; }

    /// <summary>True when <paramref name="user"/> can receive a terminal message now.</summary>
    ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken);

    /// <summary>Shows the message; false when the user is no longer reachable.</summary>
    ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken);
}

/// <summary>A message as a terminal shows it: already stripped of control characters and limited in size.</summary>
public sealed record TerminalMessage(SmtpAddress From, string? Subject, string Text);
