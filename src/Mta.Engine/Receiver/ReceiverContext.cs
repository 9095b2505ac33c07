// What every session shares: options, hooks, spool, clock, and the derived lookups built once at start.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Spool;
using Mta.Engine.Tls;

namespace Mta.Engine.Receiver;

public sealed class ReceiverContext
{
    /// <summary>Built by the container; <paramref name="terminals"/> and <paramref name="queue"/> are optional so a host
    /// without terminal delivery or a queue manager still starts (SEND/SOML/SAML then answer 502, ETRN and TURN 502/458).</summary>
    public ReceiverContext(MtaOptions options, HookPipeline hooks, IMessageSpool spool, TimeProvider time, ILoggerFactory loggers,
        CertificateProvider certificates, Auth.UserStore users, Auth.AuthFailureLimiter authFailures,
        Terminal.ITerminals? terminals = null, Queue.QueueAdministration? queue = null,
        Authentication.InboundAuthenticator? authenticator = null, Authentication.Signing.DkimMessageSigner? signer = null,
        Routing.RecipientPolicy? recipients = null)
    {
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
        TrustedNetworks = new TrustedNetworks(options);
        Admission = new ConnectionAdmission(options, time, loggers.CreateLogger("Mta.Admission"));
        XClientNetworks = new NetworkList(options.XClient.Networks);
        LocalDomains = new HashSet<string>(options.LocalDomains, Domain.NameComparer);
        Recipients = recipients ?? new Routing.RecipientPolicy(LocalDomains, new Routing.LocalRecipientPolicy(options.Mailboxes));
        DataBudget = new DataBudget(options.Limits.Data.EffectiveBudget(options.Limits.MaxMessageSize));
    }

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
    public TrustedNetworks TrustedNetworks { get; }

    /// <summary>Connection slots, per-address counts and stress mode, shared by the server and its sessions.</summary>
    internal ConnectionAdmission Admission { get; }
    public HashSet<string> LocalDomains { get; }

    /// <summary>The built-in RCPT decision: local mailboxes and relaying.</summary>
    public Routing.RecipientPolicy Recipients { get; }

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
