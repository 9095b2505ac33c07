// Delivers one message's recipients for one destination: resolve, then the destination's pipeline, a cached or new connection, one transaction.
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound.Client;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Queue;
using Mta.Protocol;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Timeout;

namespace Mta.Engine.Outbound;

/// <summary>The per-recipient results of one remote delivery, and who gave them.</summary>
/// <param name="Results">Index-aligned with the recipients passed in.</param>
/// <param name="RemoteHost">The host that answered the transaction, if one did.</param>
/// <param name="DsnPassedOn">The host took the DSN parameters: further DSNs are its job.</param>
internal sealed record RemoteBatchResult(IReadOnlyList<RecipientResult> Results, string? RemoteHost, bool DsnPassedOn);

/// <summary>
/// The SMTP delivery agent: all recipients of a message that share a next hop go in one transaction. The hop's
/// addresses come from <see cref="ITargetResolver"/>; the attempt runs inside the destination's resilience pipeline
/// (<see cref="DestinationPipelines"/>); connections are reused through <see cref="ConnectionCache"/>. Every failure
/// comes back as a per-recipient result (deferred or failed), never as an exception, except cancellation.
/// </summary>
internal sealed partial class RemoteDelivery : IAsyncDisposable
{
    private readonly MtaOptions _options;
    private readonly NextHopSelector _selector;
    private readonly ITargetResolver _resolver;
    private readonly ILogger _logger;
    private readonly DestinationPipelines _pipelines;
    private readonly ConnectionCache _cache;
    private readonly string _heloName;

    public RemoteDelivery(MtaOptions options, NextHopSelector selector, ITargetResolver resolver, TimeProvider time, ILogger<RemoteDelivery> logger)
    {
        _options = options;
        _selector = selector;
        _resolver = resolver;
        _logger = logger;
        _pipelines = new DestinationPipelines(options.Relay.Resilience, time, logger);
        _cache = new ConnectionCache(options.Relay.Resilience, time);
        _heloName = options.Relay.HeloName ?? options.HostName;
    }

    /// <summary>Idle cached connections (for tests and diagnostics).</summary>
    public int CachedConnections => _cache.Count;

    /// <summary>The next hop for a recipient domain.</summary>
    public NextHop Select(string domain) => _selector.Select(domain);

    /// <summary>The destination's state (pipeline, limiter, health), created on first use.</summary>
    public DestinationState Destination(string name) => _pipelines.Get(name);

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
        var name = domain.TrimEnd('.');
        var hop = _selector.Select(name).Key;
        return _pipelines.ResetAsync(key => string.Equals(key, hop, StringComparison.OrdinalIgnoreCase)
            || NextHop.NameOfKey(key).TrimEnd('.').Equals(name, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Delivers to the hop, or returns null at once when the destination's concurrency limit is reached; the caller
    /// then parks the work with <see cref="DestinationState.Park"/> and tries again when woken.
    /// </summary>
    public async Task<RemoteBatchResult?> TryDeliverAsync(NextHop hop, QueuedMessage message, IReadOnlyList<EnvelopeRecipient> recipients,
        CancellationToken cancellationToken)
    {
        var resolution = await _resolver.ResolveAsync(hop, cancellationToken).ConfigureAwait(false);
        switch (resolution.Status)
        {
            case TargetResolutionStatus.NullMx:
                return All(recipients, RecipientStatus.Failed, "5.1.10 " + resolution.Detail);
            case TargetResolutionStatus.NotFound:
                return All(recipients, RecipientStatus.Failed, "5.4.4 " + resolution.Detail);
            case TargetResolutionStatus.TemporaryFailure:
                return All(recipients, RecipientStatus.Deferred, "4.4.3 " + resolution.Detail);
        }
        if (resolution.Targets.Count == 0) return All(recipients, RecipientStatus.Failed, "5.4.4 no address for " + hop.Host);

        var state = _pipelines.Get(hop.Key);
        var envelope = BuildEnvelope(message, recipients);
        var settings = new ConnectionSettings(_heloName, hop.Tls, hop.UserName, hop.Password, _options.Relay.Timeouts, hop.UseChunking);
        var attempt = new Attempt(this, state, resolution.Targets, settings, envelope, message.Content);
        var admitted = true;
        try
        {
            var (result, host) = await state.Pipeline.ExecuteAsync(
                static async (a, ct) => await a.RunAsync(ct).ConfigureAwait(false), attempt, cancellationToken).ConfigureAwait(false);
            state.LastError = null;
            return new RemoteBatchResult(result.Recipients, host, result.DsnPassedOn);
        }
        catch (RateLimiterRejectedException)
        {
            admitted = false;
            return null;
        }
        catch (BrokenCircuitException)
        {
            var until = state.DeadUntil is { } d ? $" until {d:u}" : "";
            return All(recipients, RecipientStatus.Deferred,
                $"4.4.1 delivery temporarily suspended{until}: {hop.Name} is not responding ({state.LastError ?? "no details"})");
        }
        catch (TimeoutRejectedException)
        {
            state.LastError = $"delivery to {hop.Name} timed out after {_options.Relay.Resilience.AttemptTimeout}";
            return All(recipients, RecipientStatus.Deferred, "4.4.2 " + state.LastError);
        }
        catch (SmtpSessionException ex)
        {
            state.LastError = ex.Message;
            var status = ex.Reply is { IsTransient: true } r ? $"{r.EnhancedCode ?? "4.0.0"} " : ex.Stage == SessionStage.Connect ? "4.4.1 " : "4.4.2 ";
            return All(recipients, RecipientStatus.Deferred, status + ex.Message);
        }
        catch (DestinationUnreachableException ex)
        {
            state.LastError = ex.Message;
            return All(recipients, RecipientStatus.Deferred, "4.4.1 " + ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            state.LastError = ex.Message;
            return All(recipients, RecipientStatus.Deferred, $"4.3.0 delivery to {hop.Name} failed: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            // Every admitted delivery frees its slot when it ends, attempted or not (an open circuit refuses inside the
            // limiter): each wakes one parked delivery, or parked work would wait for mail that may never come.
            if (admitted) state.ResumeOne();
        }
    }

    public ValueTask DisposeAsync() => _cache.DisposeAsync();

    private static RemoteBatchResult All(IReadOnlyList<EnvelopeRecipient> recipients, RecipientStatus status, string detail) =>
        new(recipients.Select(_ => new RecipientResult(status, null, detail)).ToArray(), null, false);

    /// <summary>The outbound envelope of some recipients of a queued message: BODY, RET, ENVID and SMTPUTF8 as received.</summary>
    internal static OutboundEnvelope BuildEnvelope(QueuedMessage message, IReadOnlyList<EnvelopeRecipient> recipients)
    {
        var envelope = message.Envelope;
        // SMTPUTF8 is needed only when an address of this transaction is not ASCII; a message that merely may carry
        // UTF-8 goes to a server without SMTPUTF8 as it is (RFC 6531 3.2 leaves the downgrade decision to us).
        var needsUtf8 = envelope.SmtpUtf8 && (!message.ReversePath.IsAscii || recipients.Any(x => !x.Address.IsAscii));
        return new OutboundEnvelope(message.ReversePath,
            recipients.Select(x => new OutboundRecipient(x.Address, x.Notify, x.OriginalRecipient)).ToArray(),
            message.Content.Size, envelope.Body, needsUtf8, envelope.Ret, envelope.EnvelopeId);
    }

    private async Task<SmtpClientConnection> ConnectAsync(IReadOnlyList<SmtpTarget> targets, ConnectionSettings settings, CancellationToken ct)
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
                LogTlsFallback(target.ToString(), ex.Message);
                try
                {
                    return await SmtpClientConnection.OpenAsync(target, settings with { Tls = OutboundTlsPolicy.None }, _logger, ct).ConfigureAwait(false);
                }
                catch (SmtpSessionException again)
                {
                    lastError = again.Message;
                    LogTargetFailed(target.ToString(), again.Message);
                }
            }
            catch (SmtpSessionException ex)
            {
                // Try the next MX host, as Postfix does for refused connections and 4xx/5xx greetings.
                lastError = ex.Message;
                LogTargetFailed(target.ToString(), ex.Message);
            }
        }
        throw new DestinationUnreachableException(targets.Count == 1 ? lastError ?? "no address answered"
            : $"none of {targets.Count} addresses answered; last: {lastError}");
    }

    /// <summary>One try of the pipeline: a cached connection (checked with RSET) or a new one, then the transaction.</summary>
    private sealed class Attempt(RemoteDelivery owner, DestinationState state, IReadOnlyList<SmtpTarget> targets, ConnectionSettings settings,
        OutboundEnvelope envelope, IMessageContent content)
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
                connection ??= await owner.ConnectAsync(targets, settings, ct).ConfigureAwait(false);
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

    [LoggerMessage(EventId = LogEvents.Outbound.TlsFallback, Level = LogLevel.Information, Message = "STARTTLS with {Target} failed ({Error}); delivering in clear text (TLS policy may)")]
    private partial void LogTlsFallback(string target, string error);

    [LoggerMessage(EventId = LogEvents.Outbound.TargetFailed, Level = LogLevel.Information, Message = "No session with {Target}: {Error}")]
    private partial void LogTargetFailed(string target, string error);
}
