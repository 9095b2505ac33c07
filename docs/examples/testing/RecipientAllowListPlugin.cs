// A plugin: refuses RCPT to local users not listed in its settings (Plugins:allow-list:Settings:Users).
using Microsoft.Extensions.Configuration;
using Mta.Abstractions;

namespace SiteTests;

public sealed class RecipientAllowListPlugin : IMtaPlugin
{
    public void Register(IPluginContext context)
    {
        var users = context.Settings.GetSection("Users").GetChildren()
            .Select(c => c.Value?.ToLowerInvariant())
            .ToHashSet();
        context.Hooks.Register<RcptContext>("allow-list", (ctx, _) => ValueTask.FromResult(
            !ctx.IsLocalDomain || users.Contains(ctx.Recipient.Address.LocalPart.ToLowerInvariant())
                ? HookResult.Continue
                : HookResult.Reject("No such user here", 550, "5.1.1")));
    }
}
