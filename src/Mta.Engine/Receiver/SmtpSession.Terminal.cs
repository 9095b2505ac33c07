// RCPT inside SEND, SOML and SAML (RFC 821 3.4): terminal delivery is local only, and SEND wants the user logged in now.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>The built-in RCPT check of a SEND, SOML or SAML transaction (a RcptContext hook's Accept overrides it).</summary>
    private async ValueTask<SmtpReply> TerminalRecipientCheckAsync(TransactionKind kind, SmtpAddress address, bool isLocal, CancellationToken aborted)
    {
        // Terminals are this host's users'. Another host's terminal would need the message relayed as SEND, which no
        // MTA today accepts; refusing now lets the client fall back to MAIL itself.
        if (!isLocal)
            return new SmtpReply(550, "5.7.1", $"{address.ToPathString()}: Recipient address rejected: terminal delivery is local only");
        var mailbox = _ctx.Recipients.Decide(address, isLocal: true, new Routing.RelayClient(IsTrustedClient, AuthenticatedUser, _acceptDomains)).Reply;
        // SOML and SAML end in the mailbox when nobody is logged in, so the mailbox rules are all they need.
        if (mailbox.Code / 100 != 2 || kind != TransactionKind.Send || !_ctx.TerminalsEnabled) return mailbox;

        var user = address.IsPostmaster ? _ctx.Options.Mailboxes.Postmaster : address.LocalPart;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        // A sink is extension code: it gets the hooks' time budget, and failing closed is a 451 like a failing hook.
        bound.CancelAfter(_ctx.Options.Hooks.Timeout);
        bool active;
        try
        {
            active = await _ctx.Terminals!.IsActiveAsync(user, bound.Token);
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested)
        {
            LogTerminalCheckFailed(ex, SessionId, user);
            return new SmtpReply(451, "4.3.0", "Local error in processing, try again later");
        }
        // RFC 821 3.4: "If the user is not active ... a 450 reply may be returned to a RCPT command."
        return active ? mailbox : new SmtpReply(450, "4.2.1", $"{address.ToPathString()}: not logged in (no active terminal)");
    }

    [LoggerMessage(EventId = LogEvents.Receiver.TerminalCheckFailed, Level = LogLevel.Error, Message = "session={SessionId} terminal check for user {User} failed")]
    private partial void LogTerminalCheckFailed(Exception exception, string sessionId, string user);
}
