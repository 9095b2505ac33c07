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
/// reloads). Thread-safe. An entry with a time to live disappears after it. With <c>State:Provider</c>
/// <c>Memory</c> (the default) values live in this process's memory; with <c>Redis</c> they live in Redis, shared by
/// every node that runs the same plugin or script, and only the <c>...Async</c> members reach Redis (docs/state.md):
/// the synchronous ones are served from this node's memory so that a session never blocks on a socket.
/// Keep what must survive a restart in a file of your own, or in Redis.
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

    /// <summary>Gets a live value of type <typeparamref name="T"/>: <c>Found</c> is false when there is none.</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="StateUnavailableException">A shared store cannot be reached (decide: fail open or closed).</exception>
    ValueTask<(bool Found, T? Value)> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(TryGet<T>(key, out var value) ? (true, value) : (false, default(T)));

    /// <summary>Sets a value, replacing any; <paramref name="timeToLive"/> null keeps it until removed.</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="value">Stored as is in memory, as JSON (System.Text.Json) in a shared store.</param>
    /// <param name="timeToLive">How long the value lives; null: until removed.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="StateUnavailableException">A shared store cannot be reached.</exception>
    ValueTask SetAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        Set(key, value, timeToLive);
        return ValueTask.CompletedTask;
    }

    /// <summary>Sets a value only when the key holds no live value, atomically; returns whether it was set. For a
    /// first sighting (greylisting) or a lock: of two callers racing, on one node or on two, exactly one gets true.</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="value">The value to store.</param>
    /// <param name="timeToLive">How long the value lives; null: until removed.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="StateUnavailableException">A shared store cannot be reached.</exception>
    /// <remarks>The default implementation, for stores written before this member, checks then sets and is not atomic.</remarks>
    ValueTask<bool> SetIfAbsentAsync<T>(string key, T value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        if (TryGet<object>(key, out _)) return ValueTask.FromResult(false);
        Set(key, value, timeToLive);
        return ValueTask.FromResult(true);
    }

    /// <summary>Removes a value; returns whether one was there.</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="StateUnavailableException">A shared store cannot be reached.</exception>
    ValueTask<bool> RemoveAsync(string key, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Remove(key));

    /// <summary>Adds <paramref name="delta"/> to a counter (created at 0) and returns the new value; the time to live
    /// starts when the counter is created (a fixed window). A shared store that cannot be reached counts on this node
    /// alone instead of failing (a local limit), so a rate limit never fails open nor hangs.</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="delta">Added to the counter; 0 reads it.</param>
    /// <param name="timeToLive">The window, from the counter's creation; null: until removed.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    ValueTask<long> IncrementAsync(string key, long delta = 1, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Increment(key, delta, timeToLive));

    /// <summary>Records <paramref name="hits"/> hits at the current time under <paramref name="key"/> and returns the
    /// number of hits within the last <paramref name="window"/>, these included: a sliding-window rate limit, with no
    /// burst at a window's edge. A shared store that cannot be reached counts on this node alone (a local limit).</summary>
    /// <param name="key">The key, within this owner's store.</param>
    /// <param name="window">How far back hits count; the key disappears one window after its last hit.</param>
    /// <param name="hits">Hits to record now; 0 only counts.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <remarks>The default implementation, for stores written before this member, counts in a fixed window with
    /// <see cref="Increment"/>.</remarks>
    ValueTask<long> CountInSlidingWindowAsync(string key, TimeSpan window, long hits = 1, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Increment(key, hits, window));
}

/// <summary>
/// A shared <see cref="IStateStore"/> (Redis) could not answer within <c>State:Redis:OperationTimeout</c>, or is
/// known to be down. Thrown by the reads and writes whose fallback only the caller can choose (get, set, set-if-absent,
/// remove); counters fall back to this node's own count instead. Greylisting, for instance, lets the message through.
/// </summary>
public sealed class StateUnavailableException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public StateUnavailableException() : base("the shared state store is unavailable") { }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public StateUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with <paramref name="message"/> and the failure behind it.</summary>
    public StateUnavailableException(string message, Exception? innerException) : base(message, innerException) { }
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

/// <summary>
/// A delivery agent: takes the recipients of one message that were routed to it (<see cref="RouteKind.Agent"/> with
/// the agent's name) and says what became of each. The server's own agents (Maildir, terminal, SMTP) implement the
/// same interface. The queue calls an agent with every due recipient of a message that shares one route, so one call
/// may carry several recipients; the agent answers for each of them, in order.
/// </summary>
/// <remarks>
/// Throwing counts as a temporary failure of every recipient of the request (<c>4.3.0</c>): a plugin's bug must not
/// bounce mail. An agent that returns a result of the wrong length is treated the same way.
/// </remarks>
public interface IDeliveryAgent
{
    /// <summary>Delivers <see cref="DeliveryRequest.Recipients"/>' copies of the message.</summary>
    /// <param name="request">The message, the recipients and the route they were given.</param>
    /// <param name="cancellationToken">Cancelled when the server stops; the recipients are then retried after the restart.</param>
    /// <returns>One outcome per recipient, index-aligned with <see cref="DeliveryRequest.Recipients"/>.</returns>
    ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken);
}

/// <summary>What a delivery agent is asked to deliver: some recipients of one queued message, all on one route.</summary>
/// <param name="Message">The queued message (envelope and content).</param>
/// <param name="Recipients">The recipients to deliver now: a subset of <see cref="IQueuedMessage.Recipients"/>.</param>
/// <param name="Route">The route they share (for a plugin agent, <see cref="RouteKind.Agent"/> and the agent's name).</param>
public sealed record DeliveryRequest(IQueuedMessage Message, IReadOnlyList<EnvelopeRecipient> Recipients, Route Route)
{
    /// <summary>A result that gives every recipient of this request the same outcome.</summary>
    /// <param name="outcome">The outcome of each recipient.</param>
    public DeliveryResult ForAll(DeliveryOutcome outcome) =>
        new(Enumerable.Repeat(outcome ?? throw new ArgumentNullException(nameof(outcome)), Recipients?.Count ?? 0).ToArray());
}

/// <summary>The outcome of a <see cref="DeliveryRequest"/>, one entry per recipient.</summary>
/// <param name="Recipients">Index-aligned with <see cref="DeliveryRequest.Recipients"/>.</param>
public sealed record DeliveryResult(IReadOnlyList<DeliveryOutcome> Recipients);

/// <summary>How a delivery attempt ended for one recipient.</summary>
public enum DeliveryStatus
{
    /// <summary>Done; the recipient is final.</summary>
    Delivered,
    /// <summary>Temporary failure; retried later.</summary>
    Deferred,
    /// <summary>Permanent failure; the recipient bounces.</summary>
    Failed,
}

/// <summary>Which success notice (RFC 3464 action) a delivered recipient gets when its sender asked for NOTIFY=SUCCESS.</summary>
public enum SuccessNotice
{
    /// <summary>Final delivery (a mailbox, a terminal, a program): <c>Action: delivered</c>.</summary>
    Delivered,
    /// <summary>Handed to a next hop that does not send DSNs itself: <c>Action: relayed</c>.</summary>
    Relayed,
    /// <summary>Delivered to a list or alias that forwarded it to several recipients: <c>Action: expanded</c>.</summary>
    Expanded,
    /// <summary>No notice from this server: dropped on purpose, or the next hop took the DSN duty.</summary>
    None,
}

/// <summary>
/// The structured outcome of one recipient's delivery: the status, an RFC 3463 enhanced status code whose class agrees
/// with it (2 delivered, 4 deferred, 5 failed), a detail line for logs and DSNs, and what the remote side said.
/// </summary>
/// <param name="Status">Delivered, deferred or failed.</param>
/// <param name="EnhancedStatus">The RFC 3463 code, e.g. <c>5.1.1</c>; it becomes the DSN's <c>Status</c> field.</param>
/// <param name="Detail">One line for the log, the queue listing and the DSN.</param>
public sealed record DeliveryOutcome(DeliveryStatus Status, string EnhancedStatus, string Detail)
{
    /// <summary>The reply of the remote server that decided it, as sent (<c>550 5.1.1 no such user</c>), or null.
    /// It becomes the DSN's <c>Diagnostic-Code</c>.</summary>
    public string? RemoteReply { get; init; }

    /// <summary>The remote host that answered (<c>mx.example.org[192.0.2.1]:25</c>), or null. Its host name becomes the DSN's
    /// <c>Remote-MTA</c>.</summary>
    public string? RemoteHost { get; init; }

    /// <summary>For a delivered recipient: which success notice NOTIFY=SUCCESS gets. Defaults to
    /// <see cref="SuccessNotice.Delivered"/>.</summary>
    public SuccessNotice Notice { get; init; } = SuccessNotice.Delivered;

    /// <summary>Delivered (<c>2.0.0</c>).</summary>
    /// <param name="detail">What was done, e.g. the file or the remote id.</param>
    public static DeliveryOutcome Delivered(string detail) => new(DeliveryStatus.Delivered, "2.0.0", detail);

    /// <summary>Try again later (<c>4.0.0</c>).</summary>
    /// <param name="reason">Why.</param>
    public static DeliveryOutcome Deferred(string reason) => new(DeliveryStatus.Deferred, "4.0.0", reason);

    /// <summary>Try again later, with an RFC 3463 code of class 4 (e.g. <c>4.2.2</c> mailbox full).</summary>
    /// <param name="enhancedStatus">The code; its class must be 4.</param>
    /// <param name="reason">Why.</param>
    public static DeliveryOutcome Deferred(string enhancedStatus, string reason) =>
        new(DeliveryStatus.Deferred, Checked(enhancedStatus, '4'), reason);

    /// <summary>Give up: the recipient bounces (<c>5.0.0</c>).</summary>
    /// <param name="reason">Why.</param>
    public static DeliveryOutcome Failed(string reason) => new(DeliveryStatus.Failed, "5.0.0", reason);

    /// <summary>Give up with an RFC 3463 code of class 5 (e.g. <c>5.1.1</c> no such user).</summary>
    /// <param name="enhancedStatus">The code; its class must be 5.</param>
    /// <param name="reason">Why.</param>
    public static DeliveryOutcome Failed(string enhancedStatus, string reason) =>
        new(DeliveryStatus.Failed, Checked(enhancedStatus, '5'), reason);

    /// <summary>True when <paramref name="code"/> is an RFC 3463 code: class 2, 4 or 5, subject 0-999, detail 0-999.</summary>
    /// <param name="code">The text to check, e.g. <c>5.1.1</c>.</param>
    public static bool IsEnhancedStatus(string? code)
    {
        if (code is null) return false;
        var parts = code.Split('.');
        return parts.Length == 3 && parts[0] is "2" or "4" or "5"
            && parts.Skip(1).All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit));
    }

    /// <summary>
    /// <paramref name="code"/> when it is an RFC 3463 code whose class agrees with <paramref name="status"/> (2 delivered,
    /// 4 deferred, 5 failed), else that class's generic code (<c>2.0.0</c>, <c>4.0.0</c>, <c>5.0.0</c>).
    /// </summary>
    /// <param name="code">A code from a reply or an agent, or null.</param>
    /// <param name="status">The outcome the code must agree with; an undefined value counts as deferred.</param>
    public static string StatusOrGeneric(string? code, DeliveryStatus status)
    {
        var statusClass = status switch { DeliveryStatus.Delivered => '2', DeliveryStatus.Failed => '5', _ => '4' };
        return IsEnhancedStatus(code) && code![0] == statusClass ? code : statusClass + ".0.0";
    }

    private static string Checked(string code, char expectedClass)
    {
        if (!IsEnhancedStatus(code) || code[0] != expectedClass)
            throw new ArgumentException($"'{code}' is not an RFC 3463 status code of class {expectedClass}.", nameof(code));
        return code;
    }
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
