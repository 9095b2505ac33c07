// Answers VRFY for known users when allowed; by default says nothing, so the server answers 252.
//
// Settings (Scripts:Settings:vrfy-policy):
//   Answer  default false: never confirm addresses (VRFY helps address harvesters)
//   Users   array of user names that VRFY confirms with 250 when Answer is true
// An unknown user also gets 252 (no opinion): the answer never tells which names do not exist.

var answer = Settings.GetValue("Answer", false);
var users = Settings.GetSection("Users").GetChildren()
    .Select(c => c.Value?.Trim().ToLowerInvariant())
    .Where(v => !string.IsNullOrEmpty(v))
    .ToHashSet();
var defaultDomain = Settings["Server:HostName"] ?? "localhost";

if (!answer) return;

On<VrfyContext>(ctx =>
{
    var argument = ctx.Argument.Trim().Trim('<', '>');
    var at = argument.LastIndexOf('@');
    var local = (at < 0 ? argument : argument[..at]).ToLowerInvariant();
    var domain = at < 0 ? defaultDomain : argument[(at + 1)..];
    return users.Contains(local)
        ? HookResult.Accept($"<{local}@{domain}>", 250, "2.1.5")
        : HookResult.Continue;
});
