// TURN (RFC 821 4.1.1, made safe as RFC 2645 asks) and ETRN (RFC 1985): a client that holds mail here asks for it.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Receiver.Commands;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    private IReadOnlyList<string>? _turnDomains;

    /// <summary>TURN is answered (and listed in EHLO and HELP) only on a listener that allows it, in a host with a queue.</summary>
    private bool OffersTurn => _allowTurn && _ctx.Queue is not null;

    /// <summary>ETRN is answered (and listed) when some client could use it: <c>Turn:EtrnNetworks</c> or <c>Turn:Domains</c>.</summary>
    private bool OffersEtrn => _ctx.Queue is not null && _ctx.Options.Turn.EtrnConfigured;

    /// <summary>
    /// TURN: the built-in checks (listener, sequence, AUTH, the user's domains), then the TurnContext hook, which may
    /// only refuse. An unauthenticated TURN is never honoured: whoever asks would get the mail (RFC 2645 section 1).
    /// </summary>
    internal async ValueTask<AfterLine> OnTurnAsync(CancellationToken aborted)
    {
        // Offered, greeted, no transaction, authenticated: the table checked (and logged a refusal through OnTurnRefused).
        var domains = _ctx.Options.Turn.DomainsOf(_authenticatedUser);
        if (domains.Count == 0)
        {
            // RFC 5321 4.2.3: 550 is also "command rejected for policy reasons".
            var refusal = new SmtpReply(550, "5.7.1", $"TURN refused: no mail is held here for user {_authenticatedUser}");
            OnTurnRefused(refusal);
            Reply(refusal);
            return AfterLine.ReadCommand;
        }

        var outcome = await Hooks.RunAsync(new TurnContext(this), aborted);
        if (IsRefusal(outcome))
        {
            LogTurnRefused(SessionId, _authenticatedUser!, outcome.Result.Code);
            Reply(FromHook(outcome, null));
            return AfterLine.ReadCommand;
        }
        _turnDomains = domains;
        Reply(new SmtpReply(250, "2.0.0", "OK, turning around"), countError: false);
        return AfterLine.Turn;
    }

    /// <summary>A refused TURN is logged, unless it is simply not offered here.</summary>
    internal void OnTurnRefused(SmtpReply refusal)
    {
        if (refusal.Code != 502) LogTurnRefused(SessionId, _authenticatedUser ?? "-", refusal.Code);
    }

    /// <summary>
    /// After our 250 to TURN: this side becomes the client on the same connection (inside its TLS, if any), waits for the
    /// other side's 220, and delivers the mail queued for the user's domains; then QUIT, and the session ends.
    /// </summary>
    private async Task TurnAroundAsync(CancellationToken aborted)
    {
        var user = _authenticatedUser!;
        var domains = _turnDomains!;
        _closing = true;
        _closeReason = "turn";
        // The command pipes end here. Bytes the client sent behind TURN were out of turn (RFC 2920 3.1: TURN ends a
        // group) and are dropped with them, so nothing sent before our 250 can pass for the other side's greeting.
        var stream = await _connection.ReleaseTransportAsync();
        var target = new SmtpTarget(HeloName ?? ClientLiteral(), RemoteEndPoint.Address, RemoteEndPoint.Port);
        var relay = _ctx.Options.Relay;
        // No STARTTLS inside the reversed session: the client chose the connection's protection before it authenticated,
        // and that protection (TLS or not) carries on. The greeting timeout bounds a client that never sends 220.
        var settings = new ConnectionSettings(relay.HeloName ?? HostName, OutboundTlsPolicy.None, null, null, relay.Timeouts, relay.UseChunking);
        LogTurnStarted(SessionId, user, string.Join(',', domains));
        try
        {
            await using var connection = await SmtpClientConnection.OverStreamAsync(stream, target, settings, _logger, aborted);
            var delivered = await _ctx.Queue!.DeliverOverAsync(domains, connection, aborted);
            _closeReason = "turn done";
            LogTurnFinished(SessionId, user, delivered);
        }
        catch (SmtpSessionException ex)
        {
            _closeReason = "turn failed";
            LogTurnFailed(SessionId, user, ex.Message);
        }
    }

    /// <summary>ETRN (RFC 1985): a queue run for one domain (or, with <c>@</c>, a domain and its subdomains).</summary>
    internal void OnEtrn(string argument)
    {
        // Offered, greeted, no transaction: the table checked.
        var node = argument.Trim();
        if (node.StartsWith('#'))
        {
            // RFC 1985 5.3: "#" names a queue (a UUCP site, say) rather than a domain; Mta has one queue, by domain.
            Reply(new SmtpReply(458, "4.5.4", $"Unable to queue messages for node {Sanitize(node)}: queue names are not supported"));
            return;
        }
        var withSubdomains = node.StartsWith('@');
        var domain = Domain.TryParse(withSubdomains ? node[1..] : node, out var parsed) ? parsed.Name : "";
        if (!TurnOptionsValidator.IsDomain(domain))
        {
            Reply(new SmtpReply(501, "5.5.4", "Syntax: ETRN domain | ETRN @domain"));
            return;
        }
        if (!MayEtrn(domain))
        {
            LogEtrnRefused(SessionId, domain, _authenticatedUser ?? "-");
            Reply(new SmtpReply(459, "4.7.1", $"<{domain}>: Node not allowed"));
            return;
        }
        var queue = _ctx.Queue!;
        // One snapshot of the queue serves both the subdomain search and the count.
        var entries = queue.List();
        var domains = withSubdomains ? PendingDomainsUnder(entries, domain).ToArray() : [domain];
        // RFC 1985's 253 carries the number of messages waiting for the node, whatever state their recipients are in.
        var messages = entries.Count(e => e.Recipients.Any(r => r.State.IsPending()
            && domains.Any(d => r.Address.EndsWith("@" + d, StringComparison.OrdinalIgnoreCase))));
        var count = 0;
        foreach (var d in domains)
            count += queue.Flush(domain: d);
        LogEtrn(SessionId, node, _authenticatedUser ?? "-", count);
        Reply(messages > 0
            ? new SmtpReply(253, "2.0.0", $"OK, {messages} pending message{(messages == 1 ? "" : "s")} for node {node} started")
            : new SmtpReply(251, "2.0.0", $"OK, no messages waiting for node {node}"));
    }

    /// <summary>A client in <c>Turn:EtrnNetworks</c> may ask for any domain (a queue run delivers to the domain's own route,
    /// never to the asker); an authenticated user for the domains <c>Turn:Domains</c> gives it.</summary>
    private bool MayEtrn(string domain)
    {
        foreach (var network in _ctx.EtrnNetworks)
            if (network.Contains(RemoteEndPoint.Address)) return true;
        return _ctx.Options.Turn.DomainsOf(_authenticatedUser).Contains(domain, Domain.NameComparer);
    }

    /// <summary>The domain and every subdomain of it that has a recipient waiting in the queue.</summary>
    private static IEnumerable<string> PendingDomainsUnder(IReadOnlyList<Control.QueueEntrySnapshot> entries, string domain)
    {
        var parent = Domain.Parse(domain);
        var found = new HashSet<string>(Domain.NameComparer) { domain };
        foreach (var entry in entries)
        {
            foreach (var recipient in entry.Recipients)
            {
                var at = recipient.Address.LastIndexOf('@');
                if (at < 0) continue;
                if (Domain.TryParse(recipient.Address[(at + 1)..], out var d) && d.IsSubdomainOf(parent)) found.Add(d.Name);
            }
        }
        return found;
    }

    /// <summary>The client's text as a reply may repeat it: printable ASCII, bounded.</summary>
    private static string Sanitize(string text)
    {
        var chars = text.Take(64).Select(c => c is > ' ' and < (char)127 ? c : '?').ToArray();
        return new string(chars);
    }

    [LoggerMessage(EventId = LogEvents.Receiver.TurnRefused, Level = LogLevel.Information, Message = "session={SessionId} TURN refused user={User} reply={Code}")]
    private partial void LogTurnRefused(string sessionId, string user, int code);

    [LoggerMessage(EventId = LogEvents.Receiver.TurnStarted, Level = LogLevel.Information, Message = "session={SessionId} TURN user={User} domains={Domains}: roles reversed, delivering")]
    private partial void LogTurnStarted(string sessionId, string user, string domains);

    [LoggerMessage(EventId = LogEvents.Receiver.TurnFinished, Level = LogLevel.Information, Message = "session={SessionId} TURN user={User} done: {Delivered} recipient(s) delivered")]
    private partial void LogTurnFinished(string sessionId, string user, int delivered);

    [LoggerMessage(EventId = LogEvents.Receiver.TurnFailed, Level = LogLevel.Warning, Message = "session={SessionId} TURN user={User} failed: {Reason}")]
    private partial void LogTurnFailed(string sessionId, string user, string reason);

    [LoggerMessage(EventId = LogEvents.Receiver.Etrn, Level = LogLevel.Information, Message = "session={SessionId} ETRN {Node} user={User}: {Count} recipient(s) made due")]
    private partial void LogEtrn(string sessionId, string node, string user, int count);

    [LoggerMessage(EventId = LogEvents.Receiver.EtrnRefused, Level = LogLevel.Information, Message = "session={SessionId} ETRN {Domain} refused user={User}: node not allowed")]
    private partial void LogEtrnRefused(string sessionId, string domain, string user);
}
