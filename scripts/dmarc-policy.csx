// Acts on the server's authentication results (Transaction.Authentication) at the end of DATA: a few lines of
// policy, typed, no header to parse.
//
// Settings (Scripts:Settings:dmarc-policy):
//   RejectDmarcFail   default false: refuse mail whose DMARC result is fail and whose domain asks for reject, even
//                     while Authentication:Dmarc:Enforce (the built-in action) is off.
//   TagSpfFail        default false: add "X-Spam-Flag: YES" when SPF of MAIL FROM is fail and no DKIM signature passed.
// Both off by default, like every shipped script: it refuses nothing until configured.
var rejectDmarcFail = Settings.GetValue("RejectDmarcFail", false);
var tagSpfFail = Settings.GetValue("TagSpfFail", false);

On<DataPostContext>(ctx =>
{
    if (ctx.Transaction.Authentication is not { } auth) return HookResult.Continue;  // outgoing mail, or checks off
    if (rejectDmarcFail && auth.Dmarc is { Result: DmarcResult.Fail, Policy: DmarcPolicy.Reject } dmarc)
        return HookResult.Reject($"Message rejected by the DMARC policy of {dmarc.FromDomain}", 550, "5.7.1");
    if (tagSpfFail && auth.MailFrom?.Result == SpfResult.Fail && !auth.Dkim.Any(d => d.Result == DkimResult.Pass))
        ctx.Transaction.AddHeader("X-Spam-Flag", "YES");
    return HookResult.Continue;
});
