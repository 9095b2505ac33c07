// Per client IP rate limits: connections per minute (421 4.7.0, then close) and messages per minute (450 4.7.0).
//
// Settings (Scripts:Settings:rate-limit):
//   MaxConnectionsPerMinute  default 300
//   MaxMessagesPerMinute     default 600 (counted at MAIL FROM)
//   ExemptTrusted            default true: clients in Relay:TrustedNetworks are not limited
//   ExemptLoopback           default true: 127.0.0.1 / ::1 are not limited (local tools, benchmarks)
// The counters are sliding one-minute windows in State, so they survive a reload of this script. With
// State:Provider Redis every node counts together (docs/state.md); while Redis is unavailable each node counts alone.

var maxConnections = Settings.GetValue("MaxConnectionsPerMinute", 300L);
var maxMessages = Settings.GetValue("MaxMessagesPerMinute", 600L);
var exemptTrusted = Settings.GetValue("ExemptTrusted", true);
var exemptLoopback = Settings.GetValue("ExemptLoopback", true);
var window = TimeSpan.FromMinutes(1);

bool Exempt(ISessionInfo session)
    => (exemptTrusted && session.IsTrustedClient) || (exemptLoopback && IPAddress.IsLoopback(session.RemoteEndPoint.Address));

// The server hands sessions a canonical address: an IPv4 client is IPv4 even on a dual-stack listener.
string ClientKey(ISessionInfo session) => session.RemoteEndPoint.Address.ToString();

On<ConnectContext>(async (ctx, cancellationToken) =>
{
    if (Exempt(ctx.Session)) return HookResult.Continue;
    var count = await State.CountInSlidingWindowAsync("connections:" + ClientKey(ctx.Session), window, 1, cancellationToken);
    return count > maxConnections
        ? HookResult.Disconnect("Too many connections from your address, try again later", 421, "4.7.0")
        : HookResult.Continue;
});

On<MailContext>(async (ctx, cancellationToken) =>
{
    if (Exempt(ctx.Session)) return HookResult.Continue;
    var count = await State.CountInSlidingWindowAsync("messages:" + ClientKey(ctx.Session), window, 1, cancellationToken);
    return count > maxMessages
        ? HookResult.Defer("Sender rate limit exceeded, try again later", 450, "4.7.0")
        : HookResult.Continue;
});
