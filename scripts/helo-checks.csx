// HELO/EHLO sanity checks: a client may not claim to be this server, and (optionally) must give a FQDN.
//
// Settings (Scripts:Settings:helo-checks):
//   RequireFqdn     default false: refuse a name without a dot or with invalid characters
//                   (504 5.5.2, as Postfix's reject_non_fqdn_helo_hostname / reject_invalid_helo_hostname)
//   RejectOwnNames  default true: refuse a HELO naming this server (Server:HostName or a local domain)
//                   from a client that is not local (550 5.7.1)
//   ExemptLoopback  default true: loopback clients count as local ("HELO localhost" from swaks on this box)
// Address literals such as [192.0.2.1] are always fine. Trusted clients (Relay:TrustedNetworks) are never refused.

var requireFqdn = Settings.GetValue("RequireFqdn", false);
var rejectOwnNames = Settings.GetValue("RejectOwnNames", true);
var exemptLoopback = Settings.GetValue("ExemptLoopback", true);
// Server:* is filled in by the host for every script.
var ownNames = Settings.GetSection("Server:LocalDomains").GetChildren().Select(c => c.Value)
    .Append(Settings["Server:HostName"])
    .Where(v => !string.IsNullOrEmpty(v))
    .Select(v => v!.TrimEnd('.').ToLowerInvariant())
    .ToHashSet();
var hostname = new Regex(@"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$");

HookResult Check(ISessionInfo session, string domain)
{
    if (domain.StartsWith('[') || session.IsTrustedClient) return HookResult.Continue;
    if (exemptLoopback && IPAddress.IsLoopback(session.RemoteEndPoint.Address)) return HookResult.Continue;
    var name = domain.TrimEnd('.').ToLowerInvariant();
    if (rejectOwnNames && ownNames.Contains(name))
        return HookResult.Reject($"<{domain}>: Helo command rejected: you are not me", 550, "5.7.1");
    if (requireFqdn && (!hostname.IsMatch(domain) || !name.Contains('.')))
        return HookResult.Reject($"<{domain}>: Helo command rejected: need fully-qualified hostname", 504, "5.5.2");
    return HookResult.Continue;
}

On<HeloContext>(ctx => Check(ctx.Session, ctx.Domain));
On<EhloContext>(ctx => Check(ctx.Session, ctx.Domain));
