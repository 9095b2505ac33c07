// DNS blocklists (RFC 5782): refuse mail from clients listed on enough of the configured zones, at RCPT TO.
//
// Settings (Scripts:Settings:dnsbl):
//   Zones        zone names, each optionally with a weight: "zen.example=2", "bl.example" (weight 1). Default none:
//                the script then does nothing.
//   Threshold    the summed weight of listing zones at which the client is refused. Default 1.
//   ExemptTrusted  default true: authenticated clients and clients in Relay:TrustedNetworks are never looked up.
// Mail to postmaster is always accepted (RFC 5321 4.5.1), so a listed site can still reach a person.
// A zone answers 127.0.0.2-127.255.255.253 for a listed address; other answers (127.255.255.254/255 are "query
// refused" codes of some lists) and DNS failures count as not listed: a broken list never blocks mail.
// Lookups go through the server's resolver (Dns:Servers, cached for the record TTL), once per session.

using System.Net.Sockets;

var zones = Settings.GetSection("Zones").GetChildren()
    .Select(z => z.Value ?? "")
    .Where(z => z.Length > 0)
    .Select(z => z.Split('=', 2))
    .Select(p => (Zone: p[0].Trim().TrimEnd('.'), Weight: p.Length > 1 && int.TryParse(p[1], out var w) ? w : 1))
    .ToArray();
var threshold = Settings.GetValue("Threshold", 1);
var exemptTrusted = Settings.GetValue("ExemptTrusted", true);

// 192.0.2.1 -> 1.2.0.192; IPv6 as 32 reversed nibbles (RFC 5782 2.4).
string Reversed(IPAddress ip)
{
    var bytes = ip.GetAddressBytes();
    if (ip.AddressFamily == AddressFamily.InterNetwork)
        return string.Join('.', bytes.Reverse());
    return string.Join('.', bytes.Reverse().SelectMany(b => new[] { (b & 0xf).ToString("x"), (b >> 4).ToString("x") }));
}

bool IsListing(IPAddress answer)
{
    var b = answer.GetAddressBytes();
    return answer.AddressFamily == AddressFamily.InterNetwork && b[0] == 127 && !(b[1] == 255 && b[2] == 255 && b[3] >= 254) && !(b[1] == 0 && b[2] == 0 && b[3] < 2);
}

async Task<(int Score, List<string> Listed)> LookUpAsync(IPAddress client, CancellationToken ct)
{
    var name = Reversed(client);
    var lookups = zones.Select(async z =>
    {
        var answer = await Dns.GetAddressesAsync(name + "." + z.Zone, AddressFamily.InterNetwork, ct);
        return (z.Zone, z.Weight, Listed: answer.HasRecords && answer.Records.Any(IsListing));
    }).ToArray();
    var results = await Task.WhenAll(lookups);
    var listed = results.Where(r => r.Listed).ToList();
    return (listed.Sum(r => r.Weight), listed.Select(r => r.Zone).ToList());
}

On<RcptContext>(async (ctx, ct) =>
{
    if (zones.Length == 0 || ctx.Recipient.Address.IsPostmaster) return HookResult.Continue;
    var session = ctx.Session;
    if (exemptTrusted && (session.IsTrustedClient || session.AuthenticatedUser is not null)) return HookResult.Continue;
    if (!session.Notes.TryGetValue("dnsbl", out var cached))
        session.Notes["dnsbl"] = cached = await LookUpAsync(session.RemoteEndPoint.Address, ct);
    var (score, listedOn) = ((int, List<string>))cached!;
    if (score < threshold) return HookResult.Continue;
    Log.LogInformation("dnsbl: {Client} listed on {Zones} (score {Score} >= {Threshold})", session.RemoteEndPoint.Address, string.Join(", ", listedOn), score, threshold);
    return HookResult.Reject($"Service unavailable; client [{session.RemoteEndPoint.Address}] blocked using {string.Join(", ", listedOn)}", 554, "5.7.1");
});
