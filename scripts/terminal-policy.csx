// Decides who may write to a user's terminal (SEND, SOML, SAML): the veto point of terminal delivery.
//
// Settings (Scripts:Settings:terminal-policy):
//   LocalSendersOnly  default true: only senders in a local domain reach terminals (a stranger's SEND gets 550 at
//                     RCPT; a stranger's SOML or SAML goes to the mailbox only)
//   QuietUsers        array of user names whose terminals never show mail: SEND to them gets 550 at RCPT, SOML and
//                     SAML go to their mailbox only
// Checks at RCPT refuse a SEND before anything is queued; the route hook keeps SOML/SAML off the terminal.

var localSendersOnly = Settings.GetValue("LocalSendersOnly", true);
var quiet = Settings.GetSection("QuietUsers").GetChildren()
    .Select(c => c.Value?.Trim().ToLowerInvariant())
    .Where(v => !string.IsNullOrEmpty(v))
    .ToHashSet();
var localDomains = Settings.GetSection("Server:LocalDomains").GetChildren()
    .Select(c => c.Value?.Trim().TrimEnd('.').ToLowerInvariant())
    .Where(v => !string.IsNullOrEmpty(v))
    .ToHashSet();

bool SenderMayWrite(SmtpAddress sender) =>
    !localSendersOnly || (!sender.IsNull && localDomains.Contains(sender.Domain.TrimEnd('.').ToLowerInvariant()));

On<RcptContext>(ctx =>
{
    if (ctx.Transaction.Kind != TransactionKind.Send || !ctx.IsLocalDomain) return HookResult.Continue;
    if (quiet.Contains(ctx.Recipient.Address.LocalPart.ToLowerInvariant()))
        return HookResult.Reject($"<{ctx.Recipient.Address}>: does not take terminal messages", 550, "5.7.1");
    if (!SenderMayWrite(ctx.Transaction.ReversePath))
        return HookResult.Reject("Terminal messages are for local senders only", 550, "5.7.1");
    return HookResult.Continue;
});

On<RouteContext>(ctx =>
{
    if (ctx.Message.Kind is not (TransactionKind.SendOrMail or TransactionKind.SendAndMail)) return HookResult.Continue;
    var user = ctx.Recipient.Address.LocalPart.ToLowerInvariant();
    if (!quiet.Contains(user) && SenderMayWrite(ctx.Message.ReversePath)) return HookResult.Continue;
    // The mailbox only: the message is kept, just not shown.
    ctx.RouteTo(new Route(RouteKind.Mailbox, user));
    return HookResult.Accept();
});
