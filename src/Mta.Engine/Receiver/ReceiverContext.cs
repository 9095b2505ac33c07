// What every session shares: options, hooks, spool, clock, the derived lookups built once at start, and the live settings a reload swaps.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Spool;
using Mta.Engine.Tls;

namespace Mta.Engine.Receiver;

public sealed class ReceiverContext
{
    private readonly Reload.LiveSettings _live;

    /// <summary>Built by the container; <paramref name="terminals"/> and <paramref name="queue"/> are optional so a host
    /// without terminal delivery or a queue manager still starts (SEND/SOML/SAML then answer 502, ETRN and TURN 502/458).</summary>
    public ReceiverContext(MtaOptions options, HookPipeline hooks, IMessageSpool spool, TimeProvider time, ILoggerFactory loggers,
        CertificateProvider certificates, Auth.UserStore users, Auth.AuthFailureLimiter authFailures,
        Terminal.ITerminals? terminals = null, Queue.QueueAdministration? queue = null,
        Authentication.InboundAuthenticator? authenticator = null, Authentication.Signing.DkimMessageSigner? signer = null,
        Reload.LiveSettings? live = null, Telemetry.MtaMetrics? metrics = null, Telemetry.ReceivedSpans? receivedSpans = null)
    {
        Metrics = metrics;
        ReceivedSpans = receivedSpans;
        _live = live ?? new Reload.LiveSettings(options);
        Authenticator = authenticator;
        Signer = signer;
        AuthServId = Authentication.InboundAuthenticator.AuthServIdOf(options);
        Terminals = terminals;
        Queue = queue;
        EtrnNetworks = options.Turn.EtrnNetworks.Select(n => System.Net.IPNetwork.Parse(n)).ToArray();
        UserStore = users;
        AuthFailures = authFailures;
        Options = options;
        Hooks = hooks;
        Spool = spool;
        Time = time;
        Certificates = certificates;
        Logger = loggers.CreateLogger("Mta.Session");
        Admission = new ConnectionAdmission(options, time, loggers.CreateLogger("Mta.Admission"));
        XClientNetworks = new NetworkList(options.XClient.Networks);
        DataBudget = new DataBudget(options.Limits.Data.EffectiveBudget(options.Limits.MaxMessageSize));
        Milters = new Milter.MilterRegistry(options);
        MilterLogger = loggers.CreateLogger("Mta.Milter");
    }

    /// <summary>The milters each listener runs (<c>Milters</c>, <c>Listeners[i].Milters</c>).</summary>
    internal Milter.MilterRegistry Milters { get; }

    /// <summary>Where milter decisions and failures are logged.</summary>
    internal ILogger MilterLogger { get; }

    /// <summary>The receiver's instruments, or null when the host measures nothing.</summary>
    public Telemetry.MtaMetrics? Metrics { get; }

    /// <summary>Where a session leaves its span context for the deliveries of the messages it queued; null: nowhere.</summary>
    public Telemetry.ReceivedSpans? ReceivedSpans { get; }

    /// <summary>Message data all sessions hold before their final dot (<c>Limits:Data:InFlightBudget</c>).</summary>
    internal DataBudget DataBudget { get; }

    public MtaOptions Options { get; }

    /// <summary>Verifies incoming mail, or null when the host has no verifier.</summary>
    public Authentication.InboundAuthenticator? Authenticator { get; }

    /// <summary>DKIM-signs outgoing mail, or null when the host signs nothing.</summary>
    public Authentication.Signing.DkimMessageSigner? Signer { get; }

    /// <summary>The authserv-id: incoming Authentication-Results fields that claim it are removed.</summary>
    public string AuthServId { get; }
    public HookPipeline Hooks { get; }
    public IMessageSpool Spool { get; }
    public TimeProvider Time { get; }
    public CertificateProvider Certificates { get; }
    public Auth.UserStore UserStore { get; }
    public Auth.AuthFailureLimiter AuthFailures { get; }
    public ILogger Logger { get; }
    /// <summary><c>Relay:TrustedNetworks</c> in service (a reload may replace them).</summary>
    public TrustedNetworks TrustedNetworks => _live.Current.TrustedNetworks;

    /// <summary>Connection slots, per-address counts and stress mode, shared by the server and its sessions.</summary>
    internal ConnectionAdmission Admission { get; }
    /// <summary><c>LocalDomains</c> in service (a reload may replace them).</summary>
    public IReadOnlySet<string> LocalDomains => _live.Current.LocalDomains;

    /// <summary>The built-in RCPT decision in service: local mailboxes and relaying (a reload may replace it).</summary>
    public Routing.RecipientPolicy Recipients => _live.Current.Recipients;

    /// <summary>Terminal delivery (SEND, SOML, SAML), or null when the host has none.</summary>
    public Terminal.ITerminals? Terminals { get; }

    /// <summary>True when SEND, SOML and SAML are accepted and advertised.</summary>
    public bool TerminalsEnabled => Terminals?.Enabled == true;

    /// <summary>The queue ETRN flushes and TURN delivers from, or null when the host has none.</summary>
    public Queue.QueueAdministration? Queue { get; }

    /// <summary>Parsed <c>XClient:Networks</c>: who may send XCLIENT.</summary>
    internal NetworkList XClientNetworks { get; }

    /// <summary>Parsed <c>Turn:EtrnNetworks</c>.</summary>
    internal System.Net.IPNetwork[] EtrnNetworks { get; }
}
