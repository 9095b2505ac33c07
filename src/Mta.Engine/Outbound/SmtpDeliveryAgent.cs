// The SMTP delivery agent: one message's recipients for one next hop, resolved, sent through the destination's pipeline in one transaction.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound.Client;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Spool;
using Mta.Protocol;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Mta.Engine.Outbound;

/// <summary>
/// The SMTP delivery agent: all recipients of a request share a next hop and go in one transaction. The hop's
/// addresses come from <see cref="ITargetResolver"/>; the attempt runs inside the destination's resilience pipeline
/// (<see cref="DestinationPipelines"/>: circuit breaker, connect retries, attempt timeout); connections are reused
/// through <see cref="ConnectionCache"/>. How many deliveries run at once to one destination is the caller's
/// business (the scheduler's window, <see cref="DestinationResilienceOptions.DestinationConcurrency"/>), as is whether
/// a held hop (<see cref="NextHop.Hold"/>) may go now: this agent delivers what it is given.
/// </summary>
/// <remarks>
/// Every failure comes back as a structured outcome per recipient (deferred or failed, with an RFC 3463 code), never
/// as an exception, except cancellation and a failure of the resolver itself (which the caller defers as
/// <c>4.3.0</c>). Each <see cref="DeliveryOutcome.Detail"/> is the line logs and <c>mta queue list</c> have always
/// shown; the DSN's status comes from <see cref="DeliveryOutcome.EnhancedStatus"/>, its Diagnostic-Code from
/// <see cref="DeliveryOutcome.RemoteReply"/>.
/// </remarks>
internal sealed partial class SmtpDeliveryAgent : IDeliveryAgent, IAsyncDisposable
{
    private readonly MtaOptions _options;
    private readonly NextHopSelector _selector;
    private readonly ITargetResolver _resolver;
    private readonly ILogger _logger;
    private readonly DestinationPipelines _pipelines;
    private readonly ConnectionCache _cache;
    private readonly string _heloName;

    public SmtpDeliveryAgent(MtaOptions options, NextHopSelector selector, ITargetResolver resolver, TimeProvider time, ILogger<SmtpDeliveryAgent> logger,
        Telemetry.MtaMetrics? metrics = null)
    {
        _options = options;
        _selector = selector;
        _resolver = resolver;
        _logger = logger;
        _pipelines = new DestinationPipelines(options.Relay.Resilience, time, logger);
        metrics?.ObserveCircuits(_pipelines.CircuitStates);
        _cache = new ConnectionCache(options.Relay.Resilience, time);
        _heloName = options.Relay.HeloName ?? options.HostName;
    }

    /// <summary>Idle cached connections (for tests and diagnostics).</summary>
    public int CachedConnections => _cache.Count;

    /// <summary>The next hop for a recipient domain.</summary>
    public NextHop Select(string domain) => _selector.Select(domain);

    /// <summary>The destination's state (pipeline, health), created on first use.</summary>
    internal DestinationState Destination(string name) => _pipelines.Get(name);

    /// <summary>The destination's state if it has been used; null otherwise (nothing is created).</summary>
    internal DestinationState? FindDestination(string name) => _pipelines.Find(name);

    /// <summary>Closes the circuits of all dead destinations so their mail is tried at once (queue flush).</summary>
    public Task ResetDestinationsAsync() => _pipelines.ResetAsync();

    /// <summary>
    /// Closes the circuits of the destinations mail for <paramref name="domain"/> goes to (ETRN, a flush for a domain):
    /// the one named after the domain (MX delivery, in any TLS or AUTH variant) and the next hop the router picks for
    /// it (a route or the smart host). Names are compared whole, case-insensitive, trailing dot ignored: a destination
    /// whose name merely contains the domain (notexample.org, example.org.evil) is someone else's.
    /// </summary>
    public Task ResetDestinationsOfAsync(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var hop = _selector.Select(domain).Key;
        return _pipelines.ResetAsync(key => string.Equals(key, hop, StringComparison.OrdinalIgnoreCase)
            || Domain.NameComparer.Equals(NextHop.NameOfKey(key).ToString(), domain));
    }

    /// <summary>Delivers to the next hop of the route's target (a recipient domain, <see cref="RouteKind.Remote"/>).</summary>
    public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await DeliverAsync(Select(request.Route.Target), request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Delivers the request's recipients to <paramref name="hop"/> in one transaction.</summary>
    /// <returns>One outcome per recipient, index-aligned with the request's.</returns>
    public async Task<DeliveryResult> DeliverAsync(NextHop hop, DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hop);
        ArgumentNullException.ThrowIfNull(request);
        var resolution = await _resolver.ResolveAsync(hop, cancellationToken).ConfigureAwait(false);
        switch (resolution.Status)
        {
            case TargetResolutionStatus.NullMx:
                return All(request, DeliveryStatus.Failed, "5.1.10", resolution.Detail);
            case TargetResolutionStatus.NotFound:
                return All(request, DeliveryStatus.Failed, "5.4.4", resolution.Detail);
            case TargetResolutionStatus.TemporaryFailure:
                return All(request, DeliveryStatus.Deferred, "4.4.3", resolution.Detail);
        }
        if (resolution.Targets.Count == 0) return All(request, DeliveryStatus.Failed, "5.4.4", "no address for " + hop.Host);

        var state = _pipelines.Get(hop.Key);
        var envelope = BuildEnvelope(request);
        var settings = new ConnectionSettings(_heloName, hop.Tls, hop.UserName, hop.Password, _options.Relay.Timeouts, hop.UseChunking);
        var attempt = new Attempt(this, state, resolution.Targets, settings, envelope, request.Message.Content, request.Message.QueueId);
        try
        {
            var (result, host) = await state.Pipeline.ExecuteAsync(
                static async (a, ct) => await a.RunAsync(ct).ConfigureAwait(false), attempt, cancellationToken).ConfigureAwait(false);
            state.LastError = null;
            return FromTransaction(result, host);
        }
        catch (BrokenCircuitException)
        {
            var until = state.DeadUntil is { } d ? $" until {d:u}" : "";
            return All(request, DeliveryStatus.Deferred, "4.4.1",
                $"delivery temporarily suspended{until}: {hop.Name} is not responding ({state.LastError ?? "no details"})");
        }
        catch (TimeoutRejectedException)
        {
            state.LastError = $"delivery to {hop.Name} timed out after {_options.Relay.Resilience.AttemptTimeout}";
            return All(request, DeliveryStatus.Deferred, "4.4.2", state.LastError);
        }
        catch (SmtpSessionException ex)
        {
            state.LastError = ex.Message;
            return All(request, DeliveryStatus.Deferred, SessionStatus(ex), ex.Message);
        }
        catch (DestinationUnreachableException ex)
        {
            state.LastError = ex.Message;
            return All(request, DeliveryStatus.Deferred, "4.4.1", ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            state.LastError = ex.Message;
            return All(request, DeliveryStatus.Deferred, "4.3.0", $"delivery to {hop.Name} failed: {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// Delivers the request's recipients over a connection the other side handed us (TURN): no resolution, no pipeline,
    /// no cache. A session failure defers every recipient (<c>4.4.2</c>); other exceptions propagate.
    /// </summary>
    public async Task<DeliveryResult> DeliverOverAsync(SmtpClientConnection connection, DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var result = await connection.SendAsync(BuildEnvelope(request), request.Message.Content, cancellationToken).ConfigureAwait(false);
            return FromTransaction(result, connection.Target.ToString());
        }
        catch (SmtpSessionException ex)
        {
            return All(request, DeliveryStatus.Deferred, "4.4.2", ex.Message);
        }
    }

    public ValueTask DisposeAsync() => _cache.DisposeAsync();

    /// <summary>
    /// The status of a session that failed as a whole: a transient reply's own code (<c>4.0.0</c> when it has none),
    /// else <c>4.4.1</c> when no connection was made and <c>4.4.2</c> when it broke later. Always a deferral: a
    /// destination that is down now may be up at the next attempt.
    /// </summary>
    internal static string SessionStatus(SmtpSessionException ex) =>
        ex.Reply is { IsTransient: true } r ? r.EnhancedCode ?? "4.0.0" : ex.Stage == SessionStage.Connect ? "4.4.1" : "4.4.2";

    /// <summary>
    /// The RFC 3463 code of a recipient decided by <paramref name="reply"/>: its enhanced code when that is valid and
    /// of the reply's class (RFC 2034 3), else <c>class.0.0</c>. A reply whose class disagrees with the outcome (a 3xx
    /// where a refusal was due, deferred) gives the outcome's class.
    /// </summary>
    internal static string StatusOf(SmtpReply reply, DeliveryStatus status)
    {
        // A reply of another class than the outcome (a 3xx where a refusal was due) vouches for no code of the outcome's.
        var replyAgrees = (char)('0' + reply.Code / 100) == DeliveryOutcome.StatusOrGeneric(null, status)[0];
        return DeliveryOutcome.StatusOrGeneric(replyAgrees ? reply.EnhancedCode : null, status);
    }

    /// <summary>A reply on one line as a DSN's Diagnostic-Code carries it: <c>550 5.1.1 no such user</c>.</summary>
    internal static string ReplyText(SmtpReply reply) =>
        $"{reply.Code} {(reply.EnhancedCode is null ? "" : reply.EnhancedCode + " ")}{string.Join(" ", reply.Lines)}";

    /// <summary>Structured outcomes of a finished transaction with <paramref name="host"/> (<c>host[address]:port</c>).</summary>
    internal static DeliveryResult FromTransaction(TransactionResult transaction, string host)
    {
        // A server that took NOTIFY and the rest sends any further DSNs itself: no "relayed" notice from us then.
        var notice = transaction.DsnPassedOn ? SuccessNotice.None : SuccessNotice.Relayed;
        var outcomes = new DeliveryOutcome[transaction.Recipients.Count];
        for (var i = 0; i < outcomes.Length; i++)
        {
            var r = transaction.Recipients[i];
            var status = r.Status switch
            {
                RecipientStatus.Delivered => DeliveryStatus.Delivered,
                RecipientStatus.Failed => DeliveryStatus.Failed,
                _ => DeliveryStatus.Deferred,
            };
            var code = r.Reply is { } reply ? StatusOf(reply, status) : DeliveryOutcome.StatusOrGeneric(r.EnhancedStatus, status);
            outcomes[i] = new DeliveryOutcome(status, code, r.Detail)
            {
                RemoteReply = r.Reply is null ? null : ReplyText(r.Reply),
                RemoteHost = host,
                Notice = notice,
            };
        }
        return new DeliveryResult(outcomes);
    }

    /// <summary>The same outcome for every recipient; the detail starts with the code, as logs have always shown it.</summary>
    private static DeliveryResult All(DeliveryRequest request, DeliveryStatus status, string code, string reason) =>
        request.ForAll(new DeliveryOutcome(status, code, code + " " + reason));

    /// <summary>
    /// The outbound envelope of the request: BODY, RET, ENVID and SMTPUTF8 as received when the message is the spool's
    /// (<see cref="ISpooledMessage"/>); for another message, none of them, and SMTPUTF8 only for a non-ASCII address.
    /// </summary>
    internal static OutboundEnvelope BuildEnvelope(DeliveryRequest request)
    {
        var message = request.Message;
        var recipients = request.Recipients;
        var envelope = (message as ISpooledMessage)?.Envelope;
        // SMTPUTF8 is needed only when an address of this transaction is not ASCII; a message that merely may carry
        // UTF-8 goes to a server without SMTPUTF8 as it is (RFC 6531 3.2 leaves the downgrade decision to us).
        var needsUtf8 = (envelope?.SmtpUtf8 ?? true) && (!message.ReversePath.IsAscii || recipients.Any(x => !x.Address.IsAscii));
        return new OutboundEnvelope(message.ReversePath,
            recipients.Select(x => new OutboundRecipient(x.Address, x.Notify, x.OriginalRecipient)).ToArray(),
            message.Content.Size, envelope?.Body ?? BodyType.Unspecified, needsUtf8, envelope?.Ret ?? DsnReturn.Unspecified, envelope?.EnvelopeId);
    }

    private async Task<SmtpClientConnection> ConnectAsync(string queueId, IReadOnlyList<SmtpTarget> targets, ConnectionSettings settings, CancellationToken ct)
    {
        string? lastError = null;
        foreach (var target in targets)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                return await SmtpClientConnection.OpenAsync(target, settings, _logger, ct).ConfigureAwait(false);
            }
            catch (SmtpSessionException ex) when (ex.Stage == SessionStage.StartTls && settings.Tls == OutboundTlsPolicy.May)
            {
                // Opportunistic TLS that fails is not a reason to hold mail back: the same host again, in clear text,
                // as Postfix does at security level "may".
                LogTlsFallback(queueId, target.ToString(), ex.Message);
                try
                {
                    return await SmtpClientConnection.OpenAsync(target, settings with { Tls = OutboundTlsPolicy.None }, _logger, ct).ConfigureAwait(false);
                }
                catch (SmtpSessionException again)
                {
                    lastError = again.Message;
                    LogTargetFailed(queueId, target.ToString(), again.Message);
                }
            }
            catch (SmtpSessionException ex)
            {
                // Try the next MX host, as Postfix does for refused connections and 4xx/5xx greetings.
                lastError = ex.Message;
                LogTargetFailed(queueId, target.ToString(), ex.Message);
            }
        }
        throw new DestinationUnreachableException(targets.Count == 1 ? lastError ?? "no address answered"
            : $"none of {targets.Count} addresses answered; last: {lastError}");
    }

    /// <summary>One try of the pipeline: a cached connection (checked with RSET) or a new one, then the transaction.</summary>
    private sealed class Attempt(SmtpDeliveryAgent owner, DestinationState state, IReadOnlyList<SmtpTarget> targets, ConnectionSettings settings,
        OutboundEnvelope envelope, IMessageContent content, string queueId)
    {
        public async ValueTask<(TransactionResult Result, string Host)> RunAsync(CancellationToken ct)
        {
            SmtpClientConnection? connection = owner._cache.TryTake(state.Name);
            if (connection is not null)
            {
                bool reset;
                try
                {
                    reset = await connection.ResetAsync(ct).ConfigureAwait(false);
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
                if (!reset)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    connection = null;
                }
            }
            try
            {
                connection ??= await owner.ConnectAsync(queueId, targets, settings, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SmtpSessionException or DestinationUnreachableException)
            {
                state.LastError = ex.Message;
                throw;
            }
            try
            {
                var result = await connection.SendAsync(envelope, content, ct).ConfigureAwait(false);
                owner._cache.Return(state.Name, connection);
                return (result, connection.Target.ToString());
            }
            catch (Exception ex)
            {
                state.LastError = ex.Message;
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    [LoggerMessage(EventId = LogEvents.Outbound.TlsFallback, Level = LogLevel.Information, Message = "{QueueId}: STARTTLS with {Target} failed ({Error}); delivering in clear text (TLS policy may)")]
    private partial void LogTlsFallback(string queueId, string target, string error);

    [LoggerMessage(EventId = LogEvents.Outbound.TargetFailed, Level = LogLevel.Information, Message = "{QueueId}: no session with {Target}: {Error}")]
    private partial void LogTargetFailed(string queueId, string target, string error);
}
