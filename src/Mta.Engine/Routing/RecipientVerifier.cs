// Asks a relay domain's next hop whether it knows a recipient, at RCPT time, with a cache (Postfix's reject_unverified_recipient).
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Engine.Outbound.Routing;
using Mta.Protocol;

namespace Mta.Engine.Routing;

/// <summary>
/// Verifies a recipient with the next hop its mail would go to (<see cref="NextHopSelector"/>: <c>Relay:Routes</c>,
/// the smart host, else MX): connect, EHLO, <c>MAIL FROM:&lt;&gt;</c>, <c>RCPT TO</c>, RSET, QUIT, trying the hop's
/// addresses in order until one answers. A 2xx accepts; a 5xx refuses with 550 5.1.1 quoting the next hop; a 4xx, no
/// answer, or a timeout gives 450 4.1.1 so the client tries again later. The whole verification is bounded by
/// <c>Relay:RecipientVerification:Timeout</c>, and a session stops waiting for it when its own token fires: a callout
/// never hangs a session. Sessions asking about one address at once share one callout.
/// Definite answers are cached (accepted for <c>PositiveCacheTime</c>, refused for <c>NegativeCacheTime</c>);
/// temporary ones are not.
/// </summary>
public sealed partial class RecipientVerifier
{
    private readonly NextHopSelector _hops;
    private readonly ITargetResolver _resolver;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, (SmtpReply Reply, DateTimeOffset Expires)> _cache = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Lazy<Task<SmtpReply>>> _inFlight = new(StringComparer.OrdinalIgnoreCase);
    private volatile Settings _settings;

    public RecipientVerifier(MtaOptions options, NextHopSelector hops, ITargetResolver resolver, TimeProvider time, ILogger<RecipientVerifier> logger)
    {
        _hops = hops;
        _resolver = resolver;
        _time = time;
        _logger = logger;
        _settings = new Settings(options);
    }

    /// <summary>Cached results (for tests and diagnostics).</summary>
    public int CachedCount => _cache.Count;

    /// <summary>Takes changed verification settings; the cache is emptied, since the next hops may have changed.</summary>
    public void Reload(MtaOptions options)
    {
        _settings = new Settings(options);
        _cache.Clear();
    }

    /// <summary>The RCPT reply for <paramref name="recipient"/>: 250 when the next hop accepts it, else 550 or 450.
    /// Sessions asking about the same address at once share one verification; each stops waiting when its own
    /// <paramref name="cancellationToken"/> fires, while the verification runs on to its timeout for the others.</summary>
    public async ValueTask<SmtpReply> VerifyAsync(SmtpAddress recipient, CancellationToken cancellationToken)
    {
        var key = recipient.ToString();
        if (_cache.TryGetValue(key, out var cached) && cached.Expires > _time.GetUtcNow()) return cached.Reply;
        // The Lazy makes sure one verification starts even when two sessions race to add it.
        var pending = _inFlight.GetOrAdd(key, k => new Lazy<Task<SmtpReply>>(() => CalloutAsync(recipient, k)));
        return await pending.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<SmtpReply> CalloutAsync(SmtpAddress recipient, string key)
    {
        try
        {
            await Task.Yield();
            var settings = _settings;
            using var bounded = new CancellationTokenSource(settings.Timeout);
            var hop = _hops.Select(recipient.Domain);
            SmtpReply reply;
            try
            {
                reply = await AskAsync(hop, recipient, settings, bounded.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                reply = Temporary(recipient, $"no answer from {hop.Name} within {settings.Timeout.TotalSeconds:0} s");
            }
            catch (Exception ex)
            {
                // Fail closed but temporary: an unexpected error in the callout must not end the session or accept the address.
                reply = Temporary(recipient, $"verification with {hop.Name} failed ({ex.GetType().Name})");
            }
            if (reply.Code / 100 != 4 && settings.CacheSize > 0)
            {
                var now = _time.GetUtcNow();
                var expires = now + (reply.Code / 100 == 2 ? settings.PositiveTime : settings.NegativeTime);
                if (_cache.Count >= settings.CacheSize) Trim(now, settings.CacheSize);
                _cache[key] = (reply, expires);
            }
            LogVerified(_logger, key, hop.Name, SmtpClientConnection.Describe(reply));
            return reply;
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
        }
    }

    private async Task<SmtpReply> AskAsync(NextHop hop, SmtpAddress recipient, Settings settings, CancellationToken ct)
    {
        var resolution = await _resolver.ResolveAsync(hop, ct).ConfigureAwait(false);
        if (resolution.Status != TargetResolutionStatus.Found || resolution.Targets.Count == 0)
            return Temporary(recipient, $"next hop {hop.Name} not found: {resolution.Detail}");
        var connectionSettings = new ConnectionSettings(settings.HeloName, hop.Tls, hop.UserName, hop.Password, settings.Timeouts, hop.UseChunking);
        string? lastError = null;
        foreach (var target in resolution.Targets)
        {
            try
            {
                var connection = await OpenAsync(target, connectionSettings, ct).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    var (answer, mailRefused) = await connection.ProbeRecipientAsync(recipient, ct).ConfigureAwait(false);
                    var said = $"{target.HostName}[{target.Address}] said: {SmtpClientConnection.Describe(answer)}";
                    if (answer.Code / 100 == 2) return new SmtpReply(250, "2.1.5", "Ok");
                    // A refused null sender says nothing about the recipient: try again later rather than refuse it.
                    if (answer.Code / 100 == 5 && !mailRefused)
                        return new SmtpReply(550, "5.1.1", $"{recipient.ToPathString()}: Recipient address rejected: undeliverable address: {said}");
                    return Temporary(recipient, said);
                }
            }
            catch (SmtpSessionException ex)
            {
                lastError = ex.Message;
            }
        }
        return Temporary(recipient, lastError ?? $"no address of {hop.Name} answered");
    }

    private async Task<SmtpClientConnection> OpenAsync(SmtpTarget target, ConnectionSettings settings, CancellationToken ct)
    {
        try
        {
            return await SmtpClientConnection.OpenAsync(target, settings, _logger, ct).ConfigureAwait(false);
        }
        catch (SmtpSessionException ex) when (ex.Stage == SessionStage.StartTls && settings.Tls == OutboundTlsPolicy.May)
        {
            // As delivery does: opportunistic TLS that fails is retried in clear text.
            return await SmtpClientConnection.OpenAsync(target, settings with { Tls = OutboundTlsPolicy.None }, _logger, ct).ConfigureAwait(false);
        }
    }

    private static SmtpReply Temporary(SmtpAddress recipient, string why) =>
        new(450, "4.1.1", $"{recipient.ToPathString()}: Recipient address rejected: unverified address: {why}");

    // Expired entries first; when all are fresh, half of them (oldest expiry first) so trimming is rare.
    private void Trim(DateTimeOffset now, int size)
    {
        foreach (var (key, value) in _cache)
            if (value.Expires <= now) _cache.TryRemove(key, out _);
        if (_cache.Count < size) return;
        foreach (var (key, _) in _cache.OrderBy(e => e.Value.Expires).Take(_cache.Count / 2 + 1).ToList())
            _cache.TryRemove(key, out _);
    }

    private sealed class Settings(MtaOptions options)
    {
        public TimeSpan Timeout { get; } = options.Relay.RecipientVerification.Timeout;
        public TimeSpan PositiveTime { get; } = options.Relay.RecipientVerification.PositiveCacheTime;
        public TimeSpan NegativeTime { get; } = options.Relay.RecipientVerification.NegativeCacheTime;
        public int CacheSize { get; } = options.Relay.RecipientVerification.CacheSize;
        public string HeloName { get; } = options.Relay.HeloName ?? options.HostName;

        // Each step is bounded by the verification's own timeout as well as by the RFC value.
        public SmtpClientTimeouts Timeouts { get; } = Bounded(options.Relay.Timeouts, options.Relay.RecipientVerification.Timeout);

        private static SmtpClientTimeouts Bounded(SmtpClientTimeouts t, TimeSpan max) => new()
        {
            Connect = Min(t.Connect, max), Greeting = Min(t.Greeting, max), Command = Min(t.Command, max), Mail = Min(t.Mail, max),
            Rcpt = Min(t.Rcpt, max), DataInitiation = Min(t.DataInitiation, max), DataBlock = Min(t.DataBlock, max),
            DataTermination = Min(t.DataTermination, max),
        };

        private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    }

    [LoggerMessage(EventId = LogEvents.Maps.RecipientVerified, Level = LogLevel.Information, Message = "verify recipient={Recipient} nexthop={NextHop} result={Reply}")]
    private static partial void LogVerified(ILogger logger, string recipient, string nextHop, string reply);
}
