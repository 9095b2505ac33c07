// Refuses mail from the senders listed in Scripts:Settings:block-sender:Senders (550 5.7.1).
var blocked = Settings.GetSection("Senders").GetChildren()
    .Select(c => c.Value?.Trim().ToLowerInvariant())
    .Where(v => !string.IsNullOrEmpty(v))
    .ToHashSet();

On<MailContext>(ctx =>
{
    var sender = $"{ctx.Transaction.ReversePath.LocalPart}@{ctx.Transaction.ReversePath.Domain}".ToLowerInvariant();
    return blocked.Contains(sender)
        ? HookResult.Reject("Sender blocked by local policy", 550, "5.7.1")
        : HookResult.Continue;
});
