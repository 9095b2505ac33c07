// Every configuration key of Mta with its default, bound from the "Mta" section of mta.config.json.
using System.Net;

namespace Mta.Engine.Configuration;

/// <summary>The root of Mta's configuration: the top level of mta.config.json.</summary>
public sealed class MtaOptions
{
    /// <summary>The name this server gives in its greeting and Received fields. Defaults to <c>localhost</c>.</summary>
    public string HostName { get; set; } = "localhost";

    /// <summary>Where the server keeps its state: the queue, Maildirs, the users file, DKIM keys, the control socket.
    /// Defaults to <c>data</c>, relative to the configuration file's folder (<see cref="MtaPaths.Resolve"/>).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The SMTP listeners. Defaults to none; the embedded config defines one on 127.0.0.1:2525.</summary>
    public List<ListenerOptions> Listeners { get; set; } = [];

    /// <summary>Domains whose mail is delivered here. Defaults to <c>localhost</c>.</summary>
    public List<string> LocalDomains { get; set; } = [];

    public MailboxOptions Mailboxes { get; set; } = new();
    /// <summary>Alias files in /etc/aliases format and how their targets run. Defaults to no alias file, as
    /// <see cref="AliasOptions"/> documents.</summary>
    public AliasOptions Aliases { get; set; } = new();
    public RelayOptions Relay { get; set; } = new();
    /// <summary>Pipe transports and the command time limit. Defaults to no transports and 1000 s.</summary>
    public TransportOptions Transports { get; set; } = new();
    /// <summary>Virtual mailbox domains (their own users, Maildirs under <c>ROOT/DOMAIN/USER</c>) and virtual alias files
    /// (Postfix virtual(5)). Defaults to none, as <see cref="VirtualOptions"/> documents.</summary>
    public VirtualOptions Virtual { get; set; } = new();
    /// <summary>Canonical rewriting of sender and recipient addresses (Postfix canonical(5)). Defaults to none, as
    /// <see cref="CanonicalOptions"/> documents.</summary>
    public CanonicalOptions Canonical { get; set; } = new();
    /// <summary>The one DNS resolver of the server: servers, timeout, retries, cache. Defaults to the system's resolvers.</summary>
    public DnsOptions Dns { get; set; } = new();
    /// <summary>SPF, DKIM, DMARC and ARC checks of incoming mail, and DKIM signing of outgoing mail. Defaults as
    /// <see cref="AuthenticationOptions"/> documents: every check on, DMARC recorded only, nothing signed until a domain has a key.</summary>
    public AuthenticationOptions Authentication { get; set; } = new();
    public QueueOptions Queue { get; set; } = new();
    public LimitOptions Limits { get; set; } = new();
    public HookOptions Hooks { get; set; } = new();
    /// <summary>Certificate and protocol versions for TLS listeners. Defaults to a self-signed certificate and TLS 1.2+.</summary>
    public TlsOptions Tls { get; set; } = new();
    /// <summary>SMTP AUTH: the users file, hash cost and per-IP failure limits. Defaults as <see cref="AuthOptions"/> documents.</summary>
    public AuthOptions Auth { get; set; } = new();
    /// <summary>Terminal delivery (SEND, SOML, SAML) and its sinks. Defaults to off, as <see cref="TerminalOptions"/> documents.</summary>
    public TerminalOptions Terminal { get; set; } = new();
    /// <summary>Who may take held mail with TURN or start a queue run with ETRN. Defaults to nobody, as <see cref="TurnOptions"/> documents.</summary>
    public TurnOptions Turn { get; set; } = new();
    /// <summary>Who may send XCLIENT (Postfix's extension) to speak for another client. Defaults to nobody, as
    /// <see cref="XClientOptions"/> documents.</summary>
    public XClientOptions XClient { get; set; } = new();
    /// <summary>The control socket's limits: request size, timeouts, connection slots and those kept for root and the
    /// server's own user. Defaults as <see cref="Mta.Engine.Control.ControlServerOptions"/> documents.</summary>
    public Mta.Engine.Control.ControlServerOptions Control { get; set; } = new();
    /// <summary>The maildrop that <c>sendmail</c> writes local mail to, and the server's pickup from it. Defaults as
    /// <see cref="Mta.Engine.Pickup.PickupOptions"/> documents: on, <c>DATA/maildrop</c>, only root and the server's own
    /// user trusted to set the envelope sender.</summary>
    public Mta.Engine.Pickup.PickupOptions Pickup { get; set; } = new();
    /// <summary>The web console and health endpoints. Off by default; on loopback when on, as <see cref="WebOptions"/>
    /// documents.</summary>
    public WebOptions Web { get; set; } = new();
    /// <summary>Metrics and traces through the OpenTelemetry SDK: both collected, neither exported unless the Prometheus
    /// endpoint or OTLP is turned on, as <see cref="TelemetryOptions"/> documents.</summary>
    public TelemetryOptions Telemetry { get; set; } = new();
    /// <summary>The policy-state store: this process's memory (default) or Redis shared by nodes, as
    /// <see cref="StateOptions"/> documents.</summary>
    public StateOptions State { get; set; } = new();
    /// <summary>This node's identity when several nodes share one site (docs/scale-out.md).</summary>
    public NodeOptions Node { get; set; } = new();
    /// <summary>The mail filters (Sendmail milter protocol) listeners may run, as <see cref="MiltersOptions"/> documents.
    /// Defaults to none.</summary>
    public MiltersOptions Milters { get; set; } = new();

    /// <summary>Folder holding one sub-folder per plugin (its build output). Relative to the configuration file's folder.
    /// Defaults to <c>plugins</c>.</summary>
    public string PluginsDirectory { get; set; } = "plugins";

    /// <summary>Plugins to load, by name (the key is the plugin's folder name under <see cref="PluginsDirectory"/>
    /// unless <see cref="PluginOptions.Path"/> says otherwise). Defaults to none.</summary>
    public Dictionary<string, PluginOptions> Plugins { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public ScriptHostOptions Scripts { get; set; } = new();

    /// <summary>When a script or plugin whose overrun calls still run is taken out of service. Defaults as
    /// <see cref="Mta.Engine.Extensibility.Containment.HookContainmentOptions"/> documents (3 within 10 minutes).</summary>
    public Mta.Engine.Extensibility.Containment.HookContainmentOptions HookContainment { get; set; } = new();

    /// <summary>Microsoft.Extensions.Logging settings (levels, console formatter), handed to the logging system as they are.</summary>
    public Microsoft.Extensions.Configuration.IConfigurationSection? Logging { get; set; }

    /// <summary>How long Ctrl-C or SIGTERM waits for sessions inside DATA to finish. Defaults to 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The folder of the configuration file these options were read from: relative paths in the configuration
    /// are relative to it (<see cref="MtaPaths.Resolve"/>). Not a configuration key (no public setter, so the binder
    /// leaves it alone): the loader sets it with <see cref="ReadFrom"/>. Null for options built in code (tests, in-process
    /// hosts): the working directory then.</summary>
    public string? ConfigDirectory { get; private set; }

    /// <summary>Records that these options came from <paramref name="configFile"/>, so that relative paths resolve
    /// against its folder.</summary>
    public MtaOptions ReadFrom(string configFile)
    {
        ConfigDirectory = Path.GetDirectoryName(Path.GetFullPath(configFile));
        return this;
    }
}

/// <summary>Where and how one listener accepts connections.</summary>
public sealed class ListenerOptions
{
    /// <summary>Name used in logs and hook contexts. Defaults to <c>smtp</c>.</summary>
    public string Name { get; set; } = "smtp";
    /// <summary>IP address to bind. Defaults to <c>127.0.0.1</c>.</summary>
    public string Address { get; set; } = "127.0.0.1";
    /// <summary>TCP port. Defaults to 2525 (unprivileged).</summary>
    public int Port { get; set; } = 2525;
    /// <summary>How this listener uses TLS: <c>None</c>, <c>StartTls</c> (offered after EHLO, RFC 3207) or <c>Implicit</c>
    /// (handshake before the greeting, RFC 8314, port 465 style). Defaults to <c>StartTls</c>: a certificate is always
    /// available, a self-signed one when none is configured.</summary>
    public ListenerTlsMode Tls { get; set; } = ListenerTlsMode.StartTls;
    /// <summary>Offer AUTH without TLS. Honoured only on a loopback address, where nothing crosses a network.
    /// Defaults to false: AUTH is offered after STARTTLS (or on an implicit-TLS listener) only.</summary>
    public bool AllowPlaintextAuth { get; set; }
    /// <summary><c>Smtp</c> (port 25: anyone may send to local domains) or <c>Submission</c> (port 587: AUTH is
    /// required before MAIL, RFC 6409). Defaults to <c>Smtp</c>.</summary>
    public ListenerRole Role { get; set; } = ListenerRole.Smtp;
    /// <summary>On a submission listener, the envelope sender must be one of the authenticated user's addresses
    /// (<c>mta user add USER --address ...</c>, else USER@each local domain); 553 5.7.1 otherwise. Defaults to true.</summary>
    public bool RequireOwnSender { get; set; } = true;
    /// <summary>Answer TURN (RFC 821): an authenticated user with <c>Turn:Domains</c> gets 250, then this server becomes the
    /// client on the same connection and delivers the user's held mail. Defaults to false: TURN answers 502.</summary>
    public bool AllowTurn { get; set; }
    /// <summary>The HAProxy PROXY protocol header this listener expects before anything else (before the TLS handshake
    /// on an implicit-TLS listener): <c>None</c>, <c>V1</c> (text), <c>V2</c> (binary) or <c>Any</c> (either, told
    /// apart by the first byte). The client address the header gives is the session's from the start: connect hook,
    /// per-IP limit, trusted networks, logs and Received field. Defaults to <c>None</c>.</summary>
    public ProxyProtocolMode ProxyProtocol { get; set; } = ProxyProtocolMode.None;
    /// <summary>The load balancers allowed to connect when <see cref="ProxyProtocol"/> is on, in CIDR form (e.g.
    /// <c>10.0.0.5/32</c>). A connection from elsewhere is closed without a word and logged: otherwise anyone could
    /// claim any address. Defaults to none; required when <see cref="ProxyProtocol"/> is on.</summary>
    public List<string> ProxyNetworks { get; set; } = [];
    /// <summary>How long a proxy has to send its whole header; the connection is closed past it. Defaults to 5 s, as
    /// Postfix's smtpd_upproxy_timeout.</summary>
    public TimeSpan ProxyTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The milters this listener's sessions run, by name from <c>Milters:Definitions</c>, in the order they
    /// run (Postfix's <c>smtpd_milters</c>). Defaults to none.</summary>
    public List<string> Milters { get; set; } = [];
}

/// <summary>Which PROXY protocol header a listener expects (<see cref="ListenerOptions.ProxyProtocol"/>).</summary>
public enum ProxyProtocolMode
{
    /// <summary>No header: the socket's peer is the client.</summary>
    None,
    /// <summary>The text header, HAProxy's <c>send-proxy</c>.</summary>
    V1,
    /// <summary>The binary header, HAProxy's <c>send-proxy-v2</c>.</summary>
    V2,
    /// <summary>Either version.</summary>
    Any,
}

/// <summary>XCLIENT (<c>XClient</c>): a trusted front end, filter or test tool tells the server who the real client is
/// (Postfix XCLIENT_README: ADDR, NAME, PORT, PROTO, HELO, LOGIN, DESTADDR, DESTPORT).</summary>
public sealed class XClientOptions
{
    /// <summary>Client networks in CIDR form (e.g. <c>127.0.0.1/32</c>) that may send XCLIENT; it is advertised in EHLO
    /// to them only, and everyone else gets 550 5.7.0. Matched against the address the connection came from (after a
    /// PROXY header, the one it gives), never one an earlier XCLIENT set. Defaults to none, loopback included, as
    /// Postfix's smtpd_authorized_xclient_hosts: XCLIENT lets its sender claim any address and any AUTH user.</summary>
    public List<string> Networks { get; set; } = [];
}

/// <summary>A listener's TLS mode.</summary>
/// <summary>What a listener is for.</summary>
public enum ListenerRole
{
    /// <summary>Mail exchange (port 25).</summary>
    Smtp,
    /// <summary>Message submission by the site's own users (port 587 / 465): AUTH required.</summary>
    Submission,
}

public enum ListenerTlsMode
{
    /// <summary>Clear text only; STARTTLS answers 502.</summary>
    None,
    /// <summary>Clear text until the client sends STARTTLS (RFC 3207).</summary>
    StartTls,
    /// <summary>TLS from the first byte (RFC 8314).</summary>
    Implicit,
}

/// <summary>The lowest TLS version a listener accepts.</summary>
public enum TlsMinimumProtocol
{
    /// <summary>TLS 1.2 and 1.3.</summary>
    Tls12,
    /// <summary>TLS 1.3 only.</summary>
    Tls13,
}

/// <summary>The server certificate and protocol versions of every TLS listener (<c>Tls</c>).</summary>
public sealed class TlsOptions
{
    /// <summary>The certificate: a PEM file (certificate first, then any intermediates) or a PKCS#12 (.pfx/.p12) file,
    /// relative to the configuration file's folder. Defaults to none: a self-signed certificate for <see cref="MtaOptions.HostName"/>
    /// is generated at first start and kept in <c>DATA/tls/selfsigned.pfx</c>.</summary>
    public string? CertificateFile { get; set; }
    /// <summary>The PEM private key of a PEM <see cref="CertificateFile"/>. Defaults to none: the key is then read from
    /// the certificate file itself; not used with PKCS#12.</summary>
    public string? KeyFile { get; set; }
    /// <summary>Password of a PKCS#12 <see cref="CertificateFile"/>. Defaults to none (no password).</summary>
    public string? Password { get; set; }
    /// <summary>Lowest accepted protocol: <c>Tls12</c> or <c>Tls13</c>. Defaults to <c>Tls12</c>.</summary>
    public TlsMinimumProtocol MinimumProtocol { get; set; } = TlsMinimumProtocol.Tls12;
    /// <summary>An RSA certificate offered beside an ECDSA <see cref="CertificateFile"/> (or the self-signed ECDSA one) to
    /// clients that cannot verify ECDSA; PEM or PKCS#12 as <see cref="CertificateFile"/>. Defaults to none: every client
    /// gets the one certificate.</summary>
    public string? RsaCertificateFile { get; set; }
    /// <summary>The PEM private key of a PEM <see cref="RsaCertificateFile"/>. Defaults to none (the key is in the
    /// certificate file).</summary>
    public string? RsaKeyFile { get; set; }
    /// <summary>Password of a PKCS#12 <see cref="RsaCertificateFile"/>. Defaults to none (no password).</summary>
    public string? RsaPassword { get; set; }
    /// <summary>Also offer the ECDHE suites with AES-CBC (SHA-1 or SHA-2 MAC) under TLS 1.2, for old clients that have no
    /// AEAD suite. Defaults to false: TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305, since CBC suites have a
    /// history of padding-oracle attacks and scanners flag them; an old MTA that speaks only CBC then fails STARTTLS and,
    /// as opportunistic TLS does, delivers in clear text instead. TLS 1.3 suites are not affected.</summary>
    public bool AllowCbcSuites { get; set; }
    /// <summary>The TLS 1.2 cipher suites, by IANA name (e.g. <c>TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</c>), in place of
    /// the built-in AEAD list (and of <see cref="AllowCbcSuites"/>). Defaults to none: the built-in list. TLS 1.3 suites
    /// are OpenSSL's defaults either way.</summary>
    public List<string>? CipherSuites { get; set; }
}

/// <summary>Local delivery into Maildirs.</summary>
public sealed class MailboxOptions
{
    /// <summary>Folder holding one Maildir per user (<c>ROOT/USER/{tmp,new,cur}</c>). Defaults to <c>maildir</c> under the data directory.</summary>
    public string Root { get; set; } = "maildir";
    /// <summary>The user that receives mail for <c>postmaster</c> (RFC 5321 4.5.1). Defaults to <c>postmaster</c>.</summary>
    public string Postmaster { get; set; } = "postmaster";
    /// <summary>Mailbox users, matched case-insensitively. Defaults to none. At RCPT a local part of a local domain is
    /// accepted when it is <c>postmaster</c>, one of these, or a system user (<see cref="SystemUsers"/>); any other gets
    /// 550 5.1.1 (unless <see cref="AcceptAnyLocalPart"/>).</summary>
    public List<string> Users { get; set; } = [];
    /// <summary>Accept every local part of a local domain that can be a mailbox name, without asking <see cref="Users"/>
    /// or the system's accounts; each new name gets its Maildir at first delivery. Defaults to false: an installed server
    /// accepts only the recipients it knows. The embedded development config sets it to true.</summary>
    public bool AcceptAnyLocalPart { get; set; }
    /// <summary>Also accept local parts that are login names of system accounts (the passwd database through NSS, as
    /// Postfix's <c>local_recipient_maps = unix:passwd.byname</c>) whose uid lies between <see cref="MinSystemUid"/> and
    /// <see cref="MaxSystemUid"/>. Defaults to true, as Postfix accepts its host's users.</summary>
    public bool SystemUsers { get; set; } = true;
    /// <summary>Lowest uid of a system account that receives mail. Defaults to 1000 (UID_MIN in Debian's login.defs): the
    /// service accounts below it (daemon, www-data, ...) get none.</summary>
    public uint MinSystemUid { get; set; } = 1000;
    /// <summary>Highest uid of a system account that receives mail. Defaults to 60000 (UID_MAX in Debian's login.defs),
    /// which leaves out nobody (65534).</summary>
    public uint MaxSystemUid { get; set; } = 60000;
    /// <summary>Hand local mailboxes to an LMTP server instead of <see cref="Root"/>. Defaults to off (no endpoint).</summary>
    public LmtpOptions Lmtp { get; set; } = new();
    /// <summary>The recipient delimiter (Postfix's <c>recipient_delimiter</c>): each of its characters separates a user
    /// from a detail, so <c>alice+tag</c> is accepted when <c>alice</c> is, delivered to alice's Maildir++ folder
    /// <c>.tag</c> when it exists (else her inbox), and handed to LMTP as it was written. Defaults to null: no
    /// subaddressing, since a character that splits names must be chosen by the site (<c>+</c> is the usual one).</summary>
    public string? RecipientDelimiter { get; set; }
    /// <summary>Deliver mailboxes into a Maildir in each user's home folder instead of <see cref="Root"/>: a path relative
    /// to the home (<c>Maildir</c> means <c>~user/Maildir/</c>), the user being a system account (passwd database). When
    /// the server runs as root every folder and file there is created as the user (folders 0700, files 0600). Defaults to
    /// null: the shared <see cref="Root"/>, which needs no system accounts.</summary>
    public string? HomeMaildir { get; set; }
}

/// <summary>Who may send mail to non-local domains, and how mail for them leaves (<c>Relay</c>).</summary>
public sealed class RelayOptions
{
    /// <summary>Client networks in CIDR form (e.g. <c>10.0.0.0/8</c>) allowed to relay. Defaults to none,
    /// loopback included: an unauthenticated client can only send to local domains.</summary>
    public List<string> TrustedNetworks { get; set; } = [];

    /// <summary>Where all remote mail goes when no <see cref="Routes"/> entry matches its domain. Defaults to none:
    /// each domain's MX hosts are looked up in DNS.</summary>
    public NextHopOptions? SmartHost { get; set; }

    /// <summary>The transport map: next hop per recipient domain. A key <c>example.org</c> matches that domain only,
    /// <c>.example.org</c> its subdomains. Defaults to none.</summary>
    public Dictionary<string, NextHopOptions> Routes { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>TLS towards other MTAs when a route does not say: <c>None</c>, <c>May</c> (opportunistic STARTTLS,
    /// certificate not checked, as Postfix's <c>may</c>), <c>Encrypt</c> (STARTTLS required, certificate not checked) or
    /// <c>Verify</c> (STARTTLS required, certificate must be valid for the host name). Defaults to <c>May</c>.</summary>
    public OutboundTlsPolicy Tls { get; set; } = OutboundTlsPolicy.May;

    /// <summary>Name given in EHLO/HELO to other MTAs. Defaults to <see cref="MtaOptions.HostName"/>.</summary>
    public string? HeloName { get; set; }

    /// <summary>Timeouts of the SMTP client, RFC 5321 4.5.3.2 by default.</summary>
    public SmtpClientTimeouts Timeouts { get; set; } = new();

    /// <summary>Relay domains (Postfix's <c>relay_domains</c>): domains this server accepts mail for from any client and
    /// forwards to their next hop (<see cref="Routes"/>, else MX), as a backup MX or a mail gateway does, with the
    /// recipients checked against a list or by asking the next hop. Defaults to none.</summary>
    public Dictionary<string, RelayDomainOptions> Domains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How recipients of relay domains with <see cref="RelayDomainOptions.VerifyWithNextHop"/> are verified:
    /// time limit and cache. Defaults as <see cref="RecipientVerificationOptions"/> documents.</summary>
    public RecipientVerificationOptions RecipientVerification { get; set; } = new();

    /// <summary>Send messages with BDAT (RFC 3030 CHUNKING: no dot-stuffing, BINARYMIME possible) to next hops that
    /// offer CHUNKING; false always uses DATA, for peers whose CHUNKING is broken (then a BINARYMIME message cannot be
    /// sent and bounces with 5.6.3). A route or the smart host may say otherwise (<see cref="NextHopOptions.UseChunking"/>).
    /// Defaults to true: CHUNKING is what the peer offered, and it saves the stuffing pass.</summary>
    public bool UseChunking { get; set; } = true;

    /// <summary>The per-destination resilience pipeline (Polly): attempt timeout, connection retries, circuit breaker,
    /// concurrency limit, and the connection cache.</summary>
    public DestinationResilienceOptions Resilience { get; set; } = new();
}

/// <summary>TLS policy of the SMTP client for one destination.</summary>
public enum OutboundTlsPolicy
{
    /// <summary>Never STARTTLS.</summary>
    None,
    /// <summary>STARTTLS when the server offers it; clear text when it does not, and a new clear-text session with the same
    /// host when STARTTLS or its handshake fails.</summary>
    May,
    /// <summary>STARTTLS required (the destination is deferred without it); the certificate is not verified.</summary>
    Encrypt,
    /// <summary>STARTTLS required, and the server certificate must chain to a trusted root and match the host name.</summary>
    Verify,
}

/// <summary>One next hop: a smart host or a transport-map entry.</summary>
public sealed class NextHopOptions
{
    /// <summary>Host name or IP address. As in Postfix, <c>[host]</c> in brackets connects to that host's addresses
    /// (A/AAAA) without an MX lookup; a bare name is looked up as a mail domain (MX first). Required.</summary>
    public string Host { get; set; } = "";
    /// <summary>TCP port. Defaults to 25.</summary>
    public int Port { get; set; } = 25;
    /// <summary>TLS policy for this next hop. Defaults to <see cref="RelayOptions.Tls"/>.</summary>
    public OutboundTlsPolicy? Tls { get; set; }
    /// <summary>AUTH user name at this next hop (PLAIN or LOGIN, only over TLS unless the host is loopback).
    /// Defaults to none: no AUTH.</summary>
    public string? UserName { get; set; }
    /// <summary>AUTH password. Prefer <see cref="PasswordFile"/>, which keeps it out of the config.</summary>
    public string? Password { get; set; }
    /// <summary>A file holding the AUTH password on its first line, relative to the configuration file's folder.</summary>
    public string? PasswordFile { get; set; }
    /// <summary>Hold this domain's mail in the queue (no delivery attempts) until its server asks for it with ETRN
    /// (then it goes to <see cref="Host"/>) or TURN (then it goes over the asking connection), as a backup MX does.
    /// Defaults to false.</summary>
    public bool Hold { get; set; }
    /// <summary>BDAT to this next hop when it offers CHUNKING. Defaults to <see cref="RelayOptions.UseChunking"/>.</summary>
    public bool? UseChunking { get; set; }
}

/// <summary>SMTP client timeouts (RFC 5321 4.5.3.2 gives the defaults).</summary>
public sealed class SmtpClientTimeouts
{
    /// <summary>TCP connect to one address. Defaults to 30 s, as Postfix's smtp_connect_timeout.</summary>
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>The 220 greeting (4.5.3.2.1). Defaults to 5 minutes.</summary>
    public TimeSpan Greeting { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Replies to EHLO, HELO, STARTTLS, AUTH, RSET and QUIT. Defaults to 5 minutes.</summary>
    public TimeSpan Command { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>The MAIL reply (4.5.3.2.2). Defaults to 5 minutes.</summary>
    public TimeSpan Mail { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Each RCPT reply (4.5.3.2.3). Defaults to 5 minutes.</summary>
    public TimeSpan Rcpt { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>The 354 reply to DATA (4.5.3.2.4). Defaults to 2 minutes.</summary>
    public TimeSpan DataInitiation { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>Each write of message data (4.5.3.2.5), and with BDAT the reply to each chunk but the last.
    /// Defaults to 3 minutes.</summary>
    public TimeSpan DataBlock { get; set; } = TimeSpan.FromMinutes(3);
    /// <summary>The reply to the final dot (4.5.3.2.6), or to BDAT LAST. Defaults to 10 minutes.</summary>
    public TimeSpan DataTermination { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>The resilience pipeline each destination gets from the registry (<c>Relay:Resilience</c>).</summary>
public sealed class DestinationResilienceOptions
{
    /// <summary>Bound on one delivery attempt (connect, greeting, transaction). Defaults to 30 minutes, above the sum
    /// of the RFC timeouts a single transaction can reach.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(30);
    /// <summary>Quick retries within an attempt when no connection could be set up (refused, unreachable, 4xx
    /// greeting) or it dropped before the transaction began. Defaults to 2.</summary>
    public int ConnectRetries { get; set; } = 2;
    /// <summary>First delay of those retries; it doubles, with jitter. Defaults to 200 ms: the retries are for a blip,
    /// and each one holds a delivery worker while a destination is down.</summary>
    public TimeSpan ConnectRetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Failed attempts within <see cref="BreakerSamplingDuration"/> after which the destination is taken for
    /// dead (when every attempt failed). Low on purpose: a small destination never sees Polly's default 100 calls.
    /// Defaults to 3.</summary>
    public int BreakerMinimumThroughput { get; set; } = 3;
    /// <summary>Share of failed attempts that opens the circuit. Defaults to 1.0 (all of them).</summary>
    public double BreakerFailureRatio { get; set; } = 1.0;
    /// <summary>Window over which attempts are counted. Defaults to 30 s: short, so that a busy destination that goes
    /// down is taken for dead soon after its last successes leave the window (the breaker counts a failure ratio, and
    /// minutes of earlier successes would keep it closed through an outage).</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long a dead destination's mail is deferred without an attempt. Defaults to 5 minutes.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Deliveries at once to one destination. Defaults to 20, as Postfix's default_destination_concurrency_limit.</summary>
    public int DestinationConcurrency { get; set; } = 20;
    /// <summary>How long an idle connection is kept for the next message to the same destination. Defaults to 2 s, as
    /// Postfix's smtp_connection_cache_time_limit; zero turns the cache off.</summary>
    public TimeSpan ConnectionCacheTime { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Transactions sent over one connection before it is closed. Defaults to 100.</summary>
    public int MaxTransactionsPerConnection { get; set; } = 100;
}

/// <summary>The durable queue.</summary>
public sealed class QueueOptions
{
    /// <summary>Queue folder. Defaults to <c>queue</c> under the data directory.</summary>
    public string Path { get; set; } = "queue";
    /// <summary>Deliveries run at once, all destinations. Defaults to 20.</summary>
    public int DeliveryConcurrency { get; set; } = 20;
    /// <summary>Shortest retry delay. The delay after a temporary failure is the message's age, clamped between this and
    /// <see cref="MaxRetryDelay"/>, as Postfix's minimal_backoff_time. Defaults to 5 minutes.</summary>
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Longest retry delay. Defaults to 4000 s (about 67 min), as Postfix.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(4000);
    /// <summary>Give up and bounce after this long. Defaults to 5 days.</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromDays(5);
    /// <summary>Send a "delayed" DSN to the sender once a recipient has been deferred this long (RFC 3464 Action:
    /// delayed). Defaults to none (off), as Postfix's delay_warning_time.</summary>
    public TimeSpan? DelayWarningAfter { get; set; }
    /// <summary>Largest part of the original message a bounce returns with RET=FULL (or no RET); a bigger message is
    /// returned as its header only. Defaults to 50000 octets, as Postfix's bounce_size_limit.</summary>
    public int BounceSizeLimit { get; set; } = 50_000;
    /// <summary>Out of every few deliveries a worker starts when both new and deferred mail wait, how many go to
    /// deferred mail, so neither starves. Defaults to 1 in 4 (deferred mail gets a quarter).</summary>
    public int DeferredShare { get; set; } = 4;
    /// <summary>Largest spool segment before a new one starts. Defaults to 64 MiB.</summary>
    public long SegmentSize { get; set; } = 64L * 1024 * 1024;
}

/// <summary>Protocol limits and timeouts. RFC minimums are enforced at validation.</summary>
public sealed class LimitOptions
{
    /// <summary>Largest message accepted (SIZE), in octets. Defaults to 10 MiB (10485760), as Postfix's message_size_limit.</summary>
    public long MaxMessageSize { get; set; } = 10L * 1024 * 1024;
    /// <summary>Recipients per transaction; 452 4.5.3 past it. Defaults to 1000; at least 100 (RFC 5321 4.5.3.1.8).</summary>
    public int MaxRecipients { get; set; } = 1000;
    /// <summary>Connections at once, all clients. Defaults to 1000.</summary>
    public int MaxConnections { get; set; } = 1000;
    /// <summary>Connections at once from one client address: an IPv4 address, or an IPv6 /64 (one host usually owns a
    /// whole /64); IPv4-mapped IPv6 counts as IPv4. 421 4.7.0 past it. Defaults to 50, as Postfix's
    /// smtpd_client_connection_count_limit.</summary>
    public int MaxConnectionsPerIp { get; set; } = 50;
    /// <summary>Networks (CIDR) exempt from <see cref="MaxConnectionsPerIp"/> and its stress value, as Postfix exempts
    /// mynetworks from its per-client limits. Defaults to null: <c>Relay:TrustedNetworks</c> plus loopback
    /// (127.0.0.0/8, ::1). A list, even an empty one, replaces that default (empty: nobody is exempt). The global
    /// <see cref="MaxConnections"/> applies to everyone.</summary>
    public List<string>? ConnectionLimitExceptions { get; set; }
    /// <summary>Slowest a client may send a command line or message data, in bytes per second, measured while a line,
    /// a DATA or BDAT body or an AUTH exchange is incomplete (an idle client between commands is governed by
    /// <see cref="CommandTimeout"/>, not by rate); time the server spends working is not counted. Below it after
    /// <see cref="MinDataRateGracePeriod"/> the session is closed with 421 4.4.2, so a client dripping a byte every few
    /// seconds cannot hold a slot for a whole timeout. Defaults to 240, as Kestrel's MinRequestBodyDataRate; 0 turns it off.</summary>
    public int MinDataRate { get; set; } = 240;
    /// <summary>How long a line or a body may take before <see cref="MinDataRate"/> is checked: in effect a command line
    /// must arrive within this time. Defaults to 10 s (Kestrel's body grace is 5 s; a command line gets more room).</summary>
    public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Postfix-style stress mode: shorter timeouts and lower per-client limits while the server is nearly full.
    /// Defaults as <see cref="StressOptions"/> documents (on, from 80% of <see cref="MaxConnections"/>).</summary>
    public StressOptions Stress { get; set; } = new();
    /// <summary>Wait for a command (RFC 5321 4.5.3.2.7 server timeout). Defaults to 5 minutes.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Wait for each block of DATA (RFC 5321 4.5.3.2.5 gives the client 3 minutes; the server waits as long
    /// as its command timeout). Defaults to 5 minutes.</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Errors (4xx/5xx replies) a session may cause before it is disconnected with 421. Defaults to 20, as Postfix's smtpd_hard_error_limit.</summary>
    public int MaxErrors { get; set; } = 20;
    /// <summary>Wait this long before the 220 greeting; a client that talks first is an early talker (a bot that does not
    /// wait for the server) and gets 554 5.5.0 and the door. Defaults to 0 (no pause; data already waiting at the
    /// greeting is still refused).</summary>
    public TimeSpan GreetingDelay { get; set; } = TimeSpan.Zero;
    /// <summary>Longest life of a session, however busy: a slow-drip client cannot hold a connection for ever by sending a
    /// byte just inside each timeout. 421 4.4.2 past it. Defaults to 30 minutes.</summary>
    public TimeSpan MaxSessionTime { get; set; } = TimeSpan.FromMinutes(30);
    /// <summary>Longest time from 354 to the final dot of one message. 421 4.4.2 past it. Defaults to 10 minutes.</summary>
    public TimeSpan MaxDataTime { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Commands one session may send; 421 4.7.0 past it. Defaults to 10000.</summary>
    public int MaxCommandsPerSession { get; set; } = 10_000;
    /// <summary>Size of a message's header section in octets; 552 5.3.4 past it. Defaults to 102400, as Postfix's header_size_limit.</summary>
    public int MaxHeaderBytes { get; set; } = 102_400;
    /// <summary>Header fields in one message; 552 5.3.4 past it. Defaults to 1000.</summary>
    public int MaxHeaderFields { get; set; } = 1000;
    /// <summary>Received fields a message may carry before it is taken for a loop (RFC 5321 6.3): 554 5.4.6.
    /// Defaults to 100, the threshold RFC 5321 recommends.</summary>
    public int MaxReceivedHeaders { get; set; } = 100;
    /// <summary>How message data is held while it arrives: the in-memory head, the server-wide budget, CHUNKING
    /// (<c>Limits:Data</c>, <see cref="DataLimitOptions"/>).</summary>
    public DataLimitOptions Data { get; set; } = new();
}

/// <summary>SMTP AUTH: the users file and the brakes on password guessing (<c>Auth</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>The users file that <c>mta user add|remove|list</c> manages, relative to the data directory.
    /// Defaults to <c>users.db</c>.</summary>
    public string UsersFile { get; set; } = "users.db";
    /// <summary>PBKDF2-SHA256 iterations for new password hashes; existing hashes keep the count they were made with.
    /// Defaults to 600000 (OWASP's 2023 figure); at least 100000.</summary>
    public int HashIterations { get; set; } = 600_000;
    /// <summary>Failed AUTH attempts from one client IP (an IPv6 /64) within <see cref="FailureWindow"/> after which AUTH
    /// answers 454 4.7.0 and the session is closed with 421 4.7.0. Defaults to 10.</summary>
    public int MaxFailuresPerIp { get; set; } = 10;
    /// <summary>How long a failure counts against its IP. Defaults to 15 minutes.</summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Cap of the delay before a 535 reply, which doubles per consecutive failure (0 s, 1 s, 2 s, 4 s, ...).
    /// Defaults to 8 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(8);
    /// <summary>Threads that compute password hashes (PBKDF2) for AUTH, apart from the thread pool that serves sessions,
    /// so a flood of attempts costs at most this many cores. Defaults to 0: the number of cores.</summary>
    public int HashWorkers { get; set; }
    /// <summary>Password checks that may wait for a hashing thread; past it AUTH answers 454 4.7.0 at once rather than
    /// queueing without bound. Defaults to 32 (at 600000 iterations, a few seconds of work per core).</summary>
    public int HashQueueLimit { get; set; } = 32;
    /// <summary>Whether the Received field names the AUTH user ("(authenticated as USER)"). Defaults to false, as Postfix's
    /// smtpd_sasl_authenticated_header: the field goes to every recipient, and a login name helps whoever guesses
    /// passwords. The protocol name (ESMTPA) still says that the client authenticated.</summary>
    public bool ReceivedHeaderShowsUser { get; set; }

    /// <summary><see cref="HashWorkers"/>, with 0 resolved to the number of cores.</summary>
    internal int EffectiveHashWorkers => HashWorkers > 0 ? HashWorkers : Environment.ProcessorCount;
}

/// <summary>One plugin's entry under <c>Plugins:NAME</c>.</summary>
public sealed class PluginOptions
{
    /// <summary>Load it. Defaults to true; false keeps the entry but skips the plugin.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>When loading fails, log and go on instead of refusing to start. Defaults to false.</summary>
    public bool Optional { get; set; }
    /// <summary>Plugins run in ascending order, then by name. Defaults to 0.</summary>
    public int Order { get; set; }
    /// <summary>The plugin's folder or main .dll; defaults to <c>PluginsDirectory/NAME</c>.</summary>
    public string? Path { get; set; }
    /// <summary>The plugin's own settings, handed to it as they are (<c>IPluginContext.Settings</c>).</summary>
    public Microsoft.Extensions.Configuration.IConfigurationSection? Settings { get; set; }
}

/// <summary>C# policy scripts (<c>Scripts</c>).</summary>
public sealed class ScriptHostOptions
{
    /// <summary>Load the scripts. Defaults to true.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Folder of <c>.csx</c> files, relative to the configuration file's folder. Defaults to <c>scripts</c>.</summary>
    public string Directory { get; set; } = "scripts";
    /// <summary>Budget of one script handler call; over it the client gets 451 4.3.0. Defaults to 2 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long a script's top-level code may run when it is (re)loaded. Over it, start-up stops with an error
    /// naming the script, and a reload keeps the previous version. The code runs on a thread of its own, which cannot be
    /// stopped: an abandoned load keeps that thread until the process ends. Defaults to 10 s.</summary>
    public TimeSpan LoadTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Recompile and swap in a script when its file changes. Defaults to true.</summary>
    public bool Watch { get; set; } = true;
    /// <summary>Keep compiled scripts in <c>DATA/script-cache/</c>, keyed by a hash of their sources and of the host,
    /// so that a restart with unchanged scripts skips the compiler. Defaults to true.</summary>
    public bool Cache { get; set; } = true;
    /// <summary>Per-script settings, <c>Scripts:Settings:KEY</c> (KEY: the script name without its order prefix, the full
    /// name read as a fallback), handed to each script as <c>Settings</c>.</summary>
    public Microsoft.Extensions.Configuration.IConfigurationSection? Settings { get; set; }
}

/// <summary>Hook handler behaviour.</summary>
public sealed class HookOptions
{
    /// <summary>Time budget of one handler invocation; over it the client gets 451 4.3.0. Defaults to 10 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>The server cannot start as configured (e.g. a listener's port is taken); the message names the key.</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
