// Checks bound options and names the offending key, so a bad config stops start-up with a clear reason.
using System.Net;

namespace Mta.Engine.Configuration;

public static class MtaOptionsValidator
{
    /// <summary>Returns one message per problem, each starting with the key's path (e.g. <c>Listeners:0:Port</c>).</summary>
    public static IReadOnlyList<string> Validate(MtaOptions o)
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string why) { if (!ok) errors.Add($"{key}: {why}"); }

        Check(IsHostName(o.HostName), "HostName", $"'{o.HostName}' is not a valid host name");
        Check(!string.IsNullOrWhiteSpace(o.DataDirectory), "DataDirectory", "must not be empty");
        Check(o.Listeners.Count > 0, "Listeners", "at least one listener is required");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < o.Listeners.Count; i++)
        {
            var l = o.Listeners[i];
            Check(!string.IsNullOrWhiteSpace(l.Name), $"Listeners:{i}:Name", "must not be empty");
            Check(seen.Add(l.Name ?? ""), $"Listeners:{i}:Name", $"'{l.Name}' is used by another listener");
            Check(IPAddress.TryParse(l.Address, out _), $"Listeners:{i}:Address", $"'{l.Address}' is not an IP address");
            Check(l.Port is >= 0 and <= 65535, $"Listeners:{i}:Port", $"{l.Port} is not a TCP port (1-65535, or 0 for any free port)");
            // Implicit and StartTls always have a certificate (configured or self-signed), so the mode alone is enough.
            Check(Enum.IsDefined(l.Tls), $"Listeners:{i}:Tls", $"'{l.Tls}' is not a TLS mode (None, StartTls, Implicit)");
            ValidateProxy(l, $"Listeners:{i}", Check);
            for (var m = 0; m < l.Milters.Count; m++)
                Check(o.Milters.Definitions.ContainsKey(l.Milters[m] ?? ""), $"Listeners:{i}:Milters:{m}",
                    $"'{l.Milters[m]}' is not defined under Milters:Definitions");
        }
        ValidateMilters(o.Milters, Check);
        var tls = o.Tls;
        bool Exists(string file) => File.Exists(MtaPaths.ResolveFor(o, file));
        Check(tls.CertificateFile is not { Length: > 0 } f || Exists(f), "Tls:CertificateFile", $"'{tls.CertificateFile}' does not exist");
        Check(tls.KeyFile is not { Length: > 0 } k || Exists(k), "Tls:KeyFile", $"'{tls.KeyFile}' does not exist");
        Check(tls.KeyFile is not { Length: > 0 } || tls.CertificateFile is { Length: > 0 }, "Tls:KeyFile", "needs Tls:CertificateFile");
        Check(Enum.IsDefined(tls.MinimumProtocol), "Tls:MinimumProtocol", $"'{tls.MinimumProtocol}' is not Tls12 or Tls13");
        Check(tls.RsaCertificateFile is not { Length: > 0 } rf || Exists(rf), "Tls:RsaCertificateFile", $"'{tls.RsaCertificateFile}' does not exist");
        Check(tls.RsaKeyFile is not { Length: > 0 } rk || Exists(rk), "Tls:RsaKeyFile", $"'{tls.RsaKeyFile}' does not exist");
        Check(tls.RsaKeyFile is not { Length: > 0 } || tls.RsaCertificateFile is { Length: > 0 }, "Tls:RsaKeyFile", "needs Tls:RsaCertificateFile");
        Check(tls.CipherSuites is not { Count: > 0 } || !tls.AllowCbcSuites, "Tls:AllowCbcSuites", "has no effect with Tls:CipherSuites, which lists every TLS 1.2 suite; set one of them");
        for (var i = 0; i < (tls.CipherSuites?.Count ?? 0); i++)
            Check(Tls.TlsCipherSuites.IsTls12Name(tls.CipherSuites![i] ?? ""), $"Tls:CipherSuites:{i}", $"'{tls.CipherSuites[i]}' is not a TLS 1.2 cipher suite name (IANA, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
        for (var i = 0; i < o.LocalDomains.Count; i++)
            Check(IsHostName(o.LocalDomains[i]), $"LocalDomains:{i}", $"'{o.LocalDomains[i]}' is not a domain name");
        Check(!string.IsNullOrWhiteSpace(o.Mailboxes.Root), "Mailboxes:Root", "must not be empty");
        Check(o.Pickup.Directory is null || o.Pickup.Directory.Trim().Length > 0, "Pickup:Directory", "must not be blank (leave it out for DATA/maildrop)");
        Check(o.Pickup.RescanInterval >= TimeSpan.FromSeconds(1), "Pickup:RescanInterval", "must be at least 1 second");
        for (var i = 0; i < o.Pickup.TrustedUsers.Count; i++)
            Check(o.Pickup.TrustedUsers[i] is { Length: > 0 } u && !u.Any(c => char.IsWhiteSpace(c) || c is ':' or '/'),
                $"Pickup:TrustedUsers:{i}", $"'{o.Pickup.TrustedUsers[i]}' is not a Unix user name");
        Check(IsMailboxName(o.Mailboxes.Postmaster), "Mailboxes:Postmaster", $"'{o.Mailboxes.Postmaster}' is not a usable mailbox name");
        for (var i = 0; i < o.Mailboxes.Users.Count; i++)
            Check(IsMailboxName(o.Mailboxes.Users[i]), $"Mailboxes:Users:{i}", $"'{o.Mailboxes.Users[i]}' is not a usable mailbox name ({Delivery.MailboxNames.Rule})");
        Check(!o.Mailboxes.Lmtp.Enabled || o.Mailboxes.Lmtp.SocketPath is { Length: > 0 } || o.Mailboxes.Lmtp.TryGetTcpEndpoint(out _),
            "Mailboxes:Lmtp:Endpoint", $"'{o.Mailboxes.Lmtp.Endpoint}' is neither unix:/path nor address:port (e.g. 127.0.0.1:24)");
        ValidateAliases(o.Aliases, Check);
        ValidateWeb(o.Web, Check);
        ValidateTelemetry(o, Check);
        Check(o.Mailboxes.MinSystemUid <= o.Mailboxes.MaxSystemUid, "Mailboxes:MinSystemUid", $"{o.Mailboxes.MinSystemUid} is above Mailboxes:MaxSystemUid ({o.Mailboxes.MaxSystemUid})");
        for (var i = 0; i < o.Relay.TrustedNetworks.Count; i++)
            Check(IPNetwork.TryParse(o.Relay.TrustedNetworks[i], out _), $"Relay:TrustedNetworks:{i}", $"'{o.Relay.TrustedNetworks[i]}' is not a network in CIDR form (e.g. 192.0.2.0/24)");
        ValidateRelay(o.Relay, Check);
        ValidateMaps(o, Check);
        Authentication.Signing.DkimSigningValidator.Validate(o, Check);
        var verify = o.Authentication.Verify;
        Check(verify.MaxSignatures is >= 1 and <= 50, "Authentication:Verify:MaxSignatures", "must be between 1 and 50");
        Check(verify.MinimumRsaKeyBits is >= 512 and <= 16384, "Authentication:Verify:MinimumRsaKeyBits", "must be between 512 and 16384");
        Check(verify.Timeout >= TimeSpan.FromSeconds(1) && verify.Timeout <= TimeSpan.FromMinutes(5), "Authentication:Verify:Timeout", "must be between 1 second and 5 minutes");
        Check(o.Authentication.AuthServId is null || IsHostName(o.Authentication.AuthServId.Trim()), "Authentication:AuthServId", $"'{o.Authentication.AuthServId}' is not a host name");
        Check(Enum.IsDefined(o.Authentication.Dmarc.Quarantine), "Authentication:Dmarc:Quarantine", "must be Header or Junk");
        Check(o.Authentication.Dmarc.PublicSuffixList is not { Length: > 0 } psl || Exists(psl), "Authentication:Dmarc:PublicSuffixList", $"'{o.Authentication.Dmarc.PublicSuffixList}' does not exist");
        for (var i = 0; i < o.Dns.Servers.Count; i++)
            Check(Dns.DnsResolver.TryParseServer(o.Dns.Servers[i]) is not null, $"Dns:Servers:{i}", $"'{o.Dns.Servers[i]}' is not IP or IP:PORT (e.g. 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53)");
        Check(o.Dns.Timeout >= TimeSpan.FromMilliseconds(10) && o.Dns.Timeout <= TimeSpan.FromMinutes(1), "Dns:Timeout", "must be between 10 ms and 1 minute");
        Check(o.Dns.Retries is >= 0 and <= 10, "Dns:Retries", "must be between 0 and 10");
        Check(o.Dns.CacheSize is >= 0 and <= 10_000_000, "Dns:CacheSize", "must be between 0 (no cache) and 10000000");
        Check(LogFormats.TryParse(o.Logging?["Format"], out _), LogFormats.Key, $"'{o.Logging?["Format"]}' is not a log format ({LogFormats.Names})");
        Check(!string.IsNullOrWhiteSpace(o.Queue.Path), "Queue:Path", "must not be empty");
        Check(o.Queue.DeliveryConcurrency is >= 1 and <= 1024, "Queue:DeliveryConcurrency", "must be between 1 and 1024");
        Check(o.Queue.MinRetryDelay > TimeSpan.Zero, "Queue:MinRetryDelay", "must be positive");
        Check(o.Queue.MaxRetryDelay >= o.Queue.MinRetryDelay, "Queue:MaxRetryDelay", "must not be less than MinRetryDelay");
        Check(o.Queue.MaxLifetime > TimeSpan.Zero, "Queue:MaxLifetime", "must be positive");
        Check(o.Queue.SegmentSize >= 1024 * 1024, "Queue:SegmentSize", "must be at least 1 MiB");
        Check(o.Queue.DelayWarningAfter is not { } warn || warn > TimeSpan.Zero, "Queue:DelayWarningAfter", "must be positive when set");
        Check(o.Queue.BounceSizeLimit >= 1000, "Queue:BounceSizeLimit", "must be at least 1000 octets");
        Check(o.Queue.DeferredShare >= 2, "Queue:DeferredShare", "must be at least 2 (1 in N deliveries goes to deferred mail)");
        Check(o.Limits.MaxMessageSize >= 64 * 1024, "Limits:MaxMessageSize", "must be at least 65536 octets (RFC 5321 4.5.3.1.7)");
        Check(o.Limits.MaxRecipients >= 100, "Limits:MaxRecipients", "must be at least 100 (RFC 5321 4.5.3.1.8)");
        Check(o.Limits.MaxConnections >= 1, "Limits:MaxConnections", "must be at least 1");
        Check(o.Limits.MaxConnectionsPerIp >= 1, "Limits:MaxConnectionsPerIp", "must be at least 1");
        for (var i = 0; i < (o.Limits.ConnectionLimitExceptions?.Count ?? 0); i++)
            Check(IPNetwork.TryParse(o.Limits.ConnectionLimitExceptions![i], out _), $"Limits:ConnectionLimitExceptions:{i}", $"'{o.Limits.ConnectionLimitExceptions[i]}' is not a network in CIDR form (e.g. 192.0.2.0/24)");
        Check(o.Limits.MinDataRate >= 0, "Limits:MinDataRate", "must be 0 (off) or a number of bytes per second");
        Check(o.Limits.MinDataRateGracePeriod >= TimeSpan.FromSeconds(1) && o.Limits.MinDataRateGracePeriod <= TimeSpan.FromHours(1), "Limits:MinDataRateGracePeriod", "must be between 1 second and 1 hour");
        var stress = o.Limits.Stress;
        Check(stress.EnterAt is > 0 and <= 1, "Limits:Stress:EnterAt", "must be a fraction of MaxConnections above 0 and at most 1");
        Check(stress.LeaveAt >= 0 && stress.LeaveAt < stress.EnterAt, "Limits:Stress:LeaveAt", "must be at least 0 and below EnterAt");
        Check(stress.CommandTimeout >= TimeSpan.FromSeconds(1), "Limits:Stress:CommandTimeout", "must be at least 1 second");
        Check(stress.DataTimeout >= TimeSpan.FromSeconds(1), "Limits:Stress:DataTimeout", "must be at least 1 second");
        Check(stress.GreetingDelay >= TimeSpan.Zero && stress.GreetingDelay <= TimeSpan.FromMinutes(1), "Limits:Stress:GreetingDelay", "must be between 0 and 1 minute");
        Check(stress.MaxConnectionsPerIp >= 1, "Limits:Stress:MaxConnectionsPerIp", "must be at least 1");
        Check(stress.MaxErrors >= 1, "Limits:Stress:MaxErrors", "must be at least 1");
        // Timers take at most about 49 days.
        Check(o.Limits.CommandTimeout >= TimeSpan.FromSeconds(1) && o.Limits.CommandTimeout <= TimeSpan.FromDays(30), "Limits:CommandTimeout", "must be between 1 second and 30 days");
        Check(o.Limits.DataTimeout >= TimeSpan.FromSeconds(1) && o.Limits.DataTimeout <= TimeSpan.FromDays(30), "Limits:DataTimeout", "must be between 1 second and 30 days");
        Check(o.Limits.MaxErrors >= 1, "Limits:MaxErrors", "must be at least 1");
        Check(o.Limits.GreetingDelay >= TimeSpan.Zero && o.Limits.GreetingDelay <= TimeSpan.FromMinutes(1), "Limits:GreetingDelay", "must be between 0 and 1 minute");
        Check(o.Limits.MaxSessionTime >= TimeSpan.FromSeconds(1) && o.Limits.MaxSessionTime <= TimeSpan.FromDays(30), "Limits:MaxSessionTime", "must be between 1 second and 30 days");
        Check(o.Limits.MaxDataTime >= TimeSpan.FromSeconds(1) && o.Limits.MaxDataTime <= TimeSpan.FromDays(30), "Limits:MaxDataTime", "must be between 1 second and 30 days");
        Check(o.Limits.Data.MemoryThreshold is >= 16 * 1024 and <= 64 * 1024 * 1024, "Limits:Data:MemoryThreshold", "must be between 16384 and 67108864 octets");
        Check(o.Limits.Data.InFlightBudget is null || o.Limits.Data.InFlightBudget >= o.Limits.MaxMessageSize, "Limits:Data:InFlightBudget", "must be at least Limits:MaxMessageSize");
        Check(o.Limits.MaxCommandsPerSession >= 100, "Limits:MaxCommandsPerSession", "must be at least 100");
        Check(o.Limits.MaxHeaderBytes >= 1000, "Limits:MaxHeaderBytes", "must be at least 1000");
        Check(o.Limits.MaxHeaderFields >= 10, "Limits:MaxHeaderFields", "must be at least 10");
        Check(o.Limits.MaxReceivedHeaders >= 10, "Limits:MaxReceivedHeaders", "must be at least 10");
        Check(o.Hooks.Timeout > TimeSpan.Zero && o.Hooks.Timeout <= TimeSpan.FromDays(1), "Hooks:Timeout", "must be positive and at most 1 day");
        Check(!string.IsNullOrWhiteSpace(o.Auth.UsersFile), "Auth:UsersFile", "must not be empty");
        Check(o.Auth.HashIterations is >= 100_000 and <= 100_000_000, "Auth:HashIterations", "must be between 100000 and 100000000");
        Check(o.Auth.MaxFailuresPerIp >= 1, "Auth:MaxFailuresPerIp", "must be at least 1");
        Check(o.Auth.FailureWindow >= TimeSpan.FromSeconds(1) && o.Auth.FailureWindow <= TimeSpan.FromDays(30), "Auth:FailureWindow", "must be between 1 second and 30 days");
        Check(o.Auth.MaxDelay >= TimeSpan.Zero && o.Auth.MaxDelay <= TimeSpan.FromMinutes(5), "Auth:MaxDelay", "must be between 0 and 5 minutes");
        Check(o.Auth.HashWorkers is >= 0 and <= 256, "Auth:HashWorkers", "must be between 0 (the number of cores) and 256");
        Check(o.Auth.HashQueueLimit is >= 0 and <= 10_000, "Auth:HashQueueLimit", "must be between 0 and 10000");
        foreach (var (name, plugin) in o.Plugins)
            Check(IsMailboxName(name), $"Plugins:{name}", "a plugin name may hold letters, digits, . _ - + only");
        Check(!string.IsNullOrWhiteSpace(o.Scripts.Directory), "Scripts:Directory", "must not be empty");
        Check(o.Scripts.Timeout > TimeSpan.Zero && o.Scripts.Timeout <= TimeSpan.FromDays(1), "Scripts:Timeout", "must be positive and at most 1 day");
        Check(o.Scripts.LoadTimeout > TimeSpan.Zero && o.Scripts.LoadTimeout <= TimeSpan.FromDays(1), "Scripts:LoadTimeout", "must be positive and at most 1 day");
        for (var i = 0; i < o.XClient.Networks.Count; i++)
            Check(IPNetwork.TryParse(o.XClient.Networks[i], out _), $"XClient:Networks:{i}", $"'{o.XClient.Networks[i]}' is not a network in CIDR form (e.g. 192.0.2.0/24)");
        TerminalOptionsValidator.Validate(o, errors);
        TurnOptionsValidator.Validate(o, errors);
        StateOptionsValidator.Validate(o, errors);
        ControlOptionsValidator.Validate(o, errors);
        TransportOptionsValidator.Validate(o, errors);
        Extensibility.Containment.HookContainmentOptionsValidator.Validate(o.HookContainment, errors);
        return errors;
    }

    /// <summary>The alias settings; whether the files exist and parse is <c>AliasTable.Check</c>'s part (<c>mta check</c>, start).</summary>
    private static void ValidateAliases(AliasOptions a, Action<bool, string, string> check)
    {
        for (var i = 0; i < a.Files.Count; i++)
            check(!string.IsNullOrWhiteSpace(a.Files[i]), $"Aliases:Files:{i}", "must not be empty");
        check(!string.IsNullOrWhiteSpace(a.DefaultUser) && !a.DefaultUser.Any(c => c == ':' || char.IsWhiteSpace(c) || char.IsControl(c)),
            "Aliases:DefaultUser", $"'{a.DefaultUser}' is not a login name");
        check(a.MaxDepth is >= 1 and <= 1000, "Aliases:MaxDepth", $"{a.MaxDepth} is not between 1 and 1000");
    }

    private static void ValidateMilters(MiltersOptions milters, Action<bool, string, string> check)
    {
        foreach (var (name, m) in milters.Definitions)
        {
            var key = "Milters:Definitions:" + name;
            check(m is not null, key, "must have an Address");
            if (m is null) continue;
            check(Mta.Engine.Milter.MilterAddress.TryParse(m.Address, out _, out var why), key + ":Address", why);
            check(Enum.IsDefined(m.DefaultAction), key + ":DefaultAction", $"'{m.DefaultAction}' is not Accept, Tempfail or Reject");
            check(m.ConnectTimeout > TimeSpan.Zero && m.ConnectTimeout <= TimeSpan.FromHours(1), key + ":ConnectTimeout", "must be more than zero and at most 1 hour");
            check(m.CommandTimeout > TimeSpan.Zero && m.CommandTimeout <= TimeSpan.FromHours(1), key + ":CommandTimeout", "must be more than zero and at most 1 hour");
            check(m.EndOfMessageTimeout > TimeSpan.Zero && m.EndOfMessageTimeout <= TimeSpan.FromHours(1), key + ":EndOfMessageTimeout", "must be more than zero and at most 1 hour");
            check(m.Protocol is 2 or 3 or 4 or 6, key + ":Protocol", $"{m.Protocol} is not a milter protocol version (2, 3, 4 or 6)");
        }
    }

    private static void ValidateProxy(ListenerOptions l, string key, Action<bool, string, string> check)
    {
        check(Enum.IsDefined(l.ProxyProtocol), $"{key}:ProxyProtocol", $"'{l.ProxyProtocol}' is not a PROXY protocol mode (None, V1, V2, Any)");
        for (var j = 0; j < l.ProxyNetworks.Count; j++)
            check(IPNetwork.TryParse(l.ProxyNetworks[j], out _), $"{key}:ProxyNetworks:{j}", $"'{l.ProxyNetworks[j]}' is not a network in CIDR form (e.g. 10.0.0.5/32)");
        // Either half alone is a mistake: a header nobody may send refuses every client, and networks without a header do nothing.
        if (l.ProxyProtocol != ProxyProtocolMode.None)
            check(l.ProxyNetworks.Count > 0, $"{key}:ProxyNetworks", "must list the proxies' addresses when ProxyProtocol is on");
        else
            check(l.ProxyNetworks.Count == 0, $"{key}:ProxyNetworks", "has no effect without ProxyProtocol (V1, V2 or Any)");
        check(l.ProxyTimeout >= TimeSpan.FromMilliseconds(100) && l.ProxyTimeout <= TimeSpan.FromMinutes(5), $"{key}:ProxyTimeout", "must be between 100 ms and 5 minutes");
    }

    /// <summary>The recipient delimiter, virtual domains, alias and canonical files, relay domains and their
    /// verification. The files' contents are checked when they are loaded (start, reload, <c>mta check</c>).</summary>
    private static void ValidateMaps(MtaOptions o, Action<bool, string, string> check)
    {
        void Check(bool ok, string key, string why) => check(ok, key, why);
        var delimiter = o.Mailboxes.RecipientDelimiter;
        Check(delimiter is null || (delimiter.Length > 0 && !delimiter.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '@' or '"' or '.' || char.IsLetterOrDigit(c))),
            "Mailboxes:RecipientDelimiter", $"'{delimiter}' must be one or more characters that are not letters, digits, white space, '.', '@' or '\"' (e.g. +)");
        var local = new HashSet<string>(o.LocalDomains, Mta.Abstractions.Domain.NameComparer);
        foreach (var (name, domain) in o.Virtual.Domains)
        {
            var key = $"Virtual:Domains:{name}";
            Check(IsHostName(name), key, $"'{name}' is not a domain name");
            Check(!local.Contains(name), key, $"'{name}' is also in LocalDomains; a domain is either local or virtual");
            if (domain is null) continue;
            for (var i = 0; i < domain.Users.Count; i++)
                Check(IsMailboxName(domain.Users[i]), $"{key}:Users:{i}", $"'{domain.Users[i]}' is not a usable mailbox name ({Delivery.MailboxNames.Rule})");
            Check(domain.UsersFile is null || domain.UsersFile.Trim().Length > 0, $"{key}:UsersFile", "must not be empty when set");
        }
        for (var i = 0; i < o.Virtual.AliasFiles.Count; i++)
            Check(!string.IsNullOrWhiteSpace(o.Virtual.AliasFiles[i]), $"Virtual:AliasFiles:{i}", "must not be empty");
        for (var i = 0; i < o.Canonical.SenderFiles.Count; i++)
            Check(!string.IsNullOrWhiteSpace(o.Canonical.SenderFiles[i]), $"Canonical:SenderFiles:{i}", "must not be empty");
        for (var i = 0; i < o.Canonical.RecipientFiles.Count; i++)
            Check(!string.IsNullOrWhiteSpace(o.Canonical.RecipientFiles[i]), $"Canonical:RecipientFiles:{i}", "must not be empty");
        foreach (var (name, domain) in o.Relay.Domains)
        {
            var key = $"Relay:Domains:{name}";
            Check(IsHostName(name), key, $"'{name}' is not a domain name");
            Check(!local.Contains(name) && !o.Virtual.Domains.ContainsKey(name), key, $"'{name}' is also a local or virtual domain; mail for it is delivered here, not relayed");
            Check(domain?.RecipientsFile is null || domain.RecipientsFile.Trim().Length > 0, $"{key}:RecipientsFile", "must not be empty when set");
        }
        var v = o.Relay.RecipientVerification;
        Check(v.Timeout >= TimeSpan.FromMilliseconds(100) && v.Timeout <= TimeSpan.FromMinutes(4), "Relay:RecipientVerification:Timeout",
            "must be between 100 ms and 4 minutes (the client waits for its RCPT reply at most 5)");
        Check(v.PositiveCacheTime >= TimeSpan.Zero, "Relay:RecipientVerification:PositiveCacheTime", "must not be negative");
        Check(v.NegativeCacheTime >= TimeSpan.Zero, "Relay:RecipientVerification:NegativeCacheTime", "must not be negative");
        Check(v.CacheSize is >= 0 and <= 10_000_000, "Relay:RecipientVerification:CacheSize", "must be between 0 and 10000000");
    }

    private static void ValidateRelay(RelayOptions relay, Action<bool, string, string> check)
    {
        Check(relay.HeloName is null || IsHostName(relay.HeloName) || Outbound.Routing.NextHopSelector.TryParseAddressLiteral(relay.HeloName) is not null,
            "Relay:HeloName", $"'{relay.HeloName}' is not a host name or an address literal ([192.0.2.1])");
        Check(Enum.IsDefined(relay.Tls), "Relay:Tls", $"'{relay.Tls}' is not a TLS policy (None, May, Encrypt, Verify)");
        if (relay.SmartHost is { } smartHost)
            ValidateNextHop(smartHost, "Relay:SmartHost", check);
        foreach (var (key, route) in relay.Routes)
        {
            var domain = key.StartsWith('.') ? key[1..] : key;
            Check(IsHostName(domain), $"Relay:Routes:{key}", "a route key is a domain (example.org) or a parent domain (.example.org)");
            if (route is null)
                Check(false, $"Relay:Routes:{key}", "must have a Host");
            else
                ValidateNextHop(route, $"Relay:Routes:{key}", check);
        }

        var t = relay.Timeouts;
        CheckTimeout(t.Connect, "Relay:Timeouts:Connect");
        CheckTimeout(t.Greeting, "Relay:Timeouts:Greeting");
        CheckTimeout(t.Command, "Relay:Timeouts:Command");
        CheckTimeout(t.Mail, "Relay:Timeouts:Mail");
        CheckTimeout(t.Rcpt, "Relay:Timeouts:Rcpt");
        CheckTimeout(t.DataInitiation, "Relay:Timeouts:DataInitiation");
        CheckTimeout(t.DataBlock, "Relay:Timeouts:DataBlock");
        CheckTimeout(t.DataTermination, "Relay:Timeouts:DataTermination");

        // The ranges are Polly's own (its options throw outside them), checked here so the key is named at start-up.
        var r = relay.Resilience;
        Check(r.AttemptTimeout >= TimeSpan.FromMilliseconds(10) && r.AttemptTimeout <= TimeSpan.FromDays(1), "Relay:Resilience:AttemptTimeout", "must be between 10 ms and 1 day");
        Check(r.ConnectRetries is >= 0 and <= 100, "Relay:Resilience:ConnectRetries", "must be between 0 and 100");
        Check(r.ConnectRetryDelay >= TimeSpan.Zero && r.ConnectRetryDelay <= TimeSpan.FromDays(1), "Relay:Resilience:ConnectRetryDelay", "must be between 0 and 1 day");
        Check(r.BreakerMinimumThroughput >= 2, "Relay:Resilience:BreakerMinimumThroughput", "must be at least 2");
        Check(r.BreakerFailureRatio is > 0 and <= 1, "Relay:Resilience:BreakerFailureRatio", "must be above 0 and at most 1");
        Check(r.BreakerSamplingDuration >= TimeSpan.FromMilliseconds(500) && r.BreakerSamplingDuration <= TimeSpan.FromDays(1), "Relay:Resilience:BreakerSamplingDuration", "must be between 0.5 seconds and 1 day");
        Check(r.BreakDuration >= TimeSpan.FromMilliseconds(500) && r.BreakDuration <= TimeSpan.FromDays(1), "Relay:Resilience:BreakDuration", "must be between 0.5 seconds and 1 day");
        Check(r.DestinationConcurrency is >= 1 and <= 1024, "Relay:Resilience:DestinationConcurrency", "must be between 1 and 1024");
        Check(r.ConnectionCacheTime >= TimeSpan.Zero && r.ConnectionCacheTime <= TimeSpan.FromHours(1), "Relay:Resilience:ConnectionCacheTime", "must be more than zero and at most 1 hour");
        Check(r.MaxTransactionsPerConnection >= 1, "Relay:Resilience:MaxTransactionsPerConnection", "must be at least 1");

        void Check(bool ok, string key, string why) => check(ok, key, why);
        // Timers take at most about 49 days.
        void CheckTimeout(TimeSpan value, string key) =>
            Check(value > TimeSpan.Zero && value <= TimeSpan.FromDays(30), key, "must be positive and at most 30 days");
    }

    private static void ValidateNextHop(NextHopOptions hop, string key, Action<bool, string, string> check)
    {
        Check(IsNextHopHost(hop.Host), $"{key}:Host", $"'{hop.Host}' is not a host name, [host name] or [IP address]");
        Check(hop.Port is >= 1 and <= 65535, $"{key}:Port", $"{hop.Port} is not a TCP port (1-65535)");
        Check(hop.Tls is not { } tls || Enum.IsDefined(tls), $"{key}:Tls", $"'{hop.Tls}' is not a TLS policy (None, May, Encrypt, Verify)");
        var hasPassword = hop.Password is not null || hop.PasswordFile is { Length: > 0 };
        Check(hop.UserName is null || hasPassword, $"{key}:UserName", "needs Password or PasswordFile");
        Check(hop.UserName is not null || !hasPassword, $"{key}:Password", "a password needs UserName");
        Check(hop.UserName is null || hop.UserName.Length > 0, $"{key}:UserName", "must not be empty when set");
        Check(hop.Password is null || hop.PasswordFile is null, $"{key}:PasswordFile", "set Password or PasswordFile, not both");

        void Check(bool ok, string path, string why) => check(ok, path, why);
    }

    // Postfix's forms: a bare name (MX lookup), [name] or [IP] (no MX lookup); a bare IP is taken as [IP].
    private static bool IsNextHopHost(string? host)
    {
        var h = host?.Trim() ?? "";
        if (h.Length >= 2 && h[0] == '[' && h[^1] == ']')
        {
            var inner = h[1..^1];
            if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                return Outbound.Routing.NextHopSelector.TryParseIp(inner[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            return Outbound.Routing.NextHopSelector.TryParseIp(inner, out _) || IsHostName(inner.TrimEnd('.'));
        }
        return Outbound.Routing.NextHopSelector.TryParseIp(h, out _) || IsHostName(h.TrimEnd('.'));
    }

    private static void ValidateTelemetry(MtaOptions o, Action<bool, string, string> check)
    {
        var telemetry = o.Telemetry;
        var prometheus = telemetry.Prometheus;
        check(!prometheus.Enabled || o.Web.EffectiveUrls.Count > 0, "Web:Urls", "at least one URL is needed when Telemetry:Prometheus:Enabled is true");
        check(!prometheus.Enabled || telemetry.Metrics, "Telemetry:Prometheus:Enabled", "needs Telemetry:Metrics true (nothing would be collected to scrape)");
        // One path segment or more, no query: Prometheus's metrics_path.
        check(prometheus.Path is { Length: > 1 } path && path[0] == '/' && !path.Contains('?') && !path.Contains('#') && !path.Any(char.IsWhiteSpace)
                && path != "/healthz" && path != "/readyz",
            "Telemetry:Prometheus:Path", $"'{prometheus.Path}' is not an absolute path such as /metrics (and not /healthz or /readyz)");
        var otlp = telemetry.Otlp;
        check(telemetry.TraceSampleRatio is >= 0 and <= 1, "Telemetry:TraceSampleRatio", $"{telemetry.TraceSampleRatio} is not between 0 and 1 (1 traces every session)");
        check(Enum.IsDefined(otlp.Protocol), "Telemetry:Otlp:Protocol", "must be HttpProtobuf or Grpc");
        check(!otlp.Enabled || Uri.TryCreate(otlp.Endpoint, UriKind.Absolute, out var endpoint) && (endpoint.Scheme == Uri.UriSchemeHttp || endpoint.Scheme == Uri.UriSchemeHttps)
                && string.IsNullOrEmpty(endpoint.Query),
            "Telemetry:Otlp:Endpoint", $"'{otlp.Endpoint}' is not an http:// or https:// URL (e.g. http://localhost:4318)");
        check(otlp.MetricsInterval >= TimeSpan.FromSeconds(1) && otlp.MetricsInterval <= TimeSpan.FromHours(1), "Telemetry:Otlp:MetricsInterval", "must be between 1 second and 1 hour");
    }

    private static void ValidateWeb(WebOptions web, Action<bool, string, string> check)
    {
        for (var i = 0; i < web.EffectiveUrls.Count; i++)
        {
            var url = web.EffectiveUrls[i];
            // Kestrel takes http://host:port; https would need a certificate of its own, which the console does not
            // manage (put a TLS proxy in front, or keep it on loopback).
            var ok = Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp
                && (uri.IsLoopback || IPAddress.TryParse(uri.Host.Trim('[', ']'), out _)) && uri.AbsolutePath == "/";
            check(ok, $"Web:Urls:{i}", $"'{url}' is not http://ADDRESS:PORT with an IP address (e.g. http://127.0.0.1:8089)");
        }
        check(!web.Enabled || web.EffectiveUrls.Count > 0, "Web:Urls", "at least one URL is needed when Web:Enabled is true");
        for (var i = 0; i < web.Admins.Count; i++)
            check(web.Admins[i] is { Length: > 0 } a && !a.Any(c => c == ':' || char.IsWhiteSpace(c) || char.IsControl(c)),
                $"Web:Admins:{i}", $"'{web.Admins[i]}' is not a user name of the users file");
    }

    private static bool IsHostName(string? s) =>
        !string.IsNullOrEmpty(s) && s.Length <= 255 &&
        s.Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' &&
                                  label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));

    internal static bool IsMailboxName(string? s) => Delivery.MailboxNames.IsValid(s);
}
