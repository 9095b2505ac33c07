// The one composition root of the delivery side: spool, agents, router, DSNs, journal, scheduler and administration.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mta.Engine.Authentication;
using Mta.Engine.Bounces;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Maps;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Routing;
using Mta.Engine.Spool;
using Mta.Engine.Status;

namespace Mta.Engine.Queue;

public static class QueueServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="SegmentSpool"/> (also as <see cref="IMessageSpool"/>), the delivery agents (Maildir, terminal,
    /// discard, plugin agents, SMTP with its next-hop selection, DNS resolution and per-destination pipelines), the
    /// router, DSNs, the journal, <see cref="QueueScheduler"/> as a hosted service and <see cref="QueueAdministration"/>
    /// (also as <see cref="IQueueAdministration"/>). Expects MtaOptions, MtaPaths, HookPipeline and TimeProvider to be
    /// registered. Register it before the listeners so recovery starts before the first session. A test may register
    /// its own <see cref="ITargetResolver"/> first (a stub) and it is kept.
    /// </summary>
    public static IServiceCollection AddMtaQueue(this IServiceCollection services)
    {
        services.TryAddSingleton<SegmentSpool>();
        services.TryAddSingleton<IMessageSpool>(sp => sp.GetRequiredService<SegmentSpool>());
        services.TryAddSingleton(UnixAccounts.System);
        services.TryAddSingleton(sp => new MaildirDelivery(sp.GetRequiredService<MtaPaths>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<UnixAccounts>()));
        // Local targets of aliases and transports: commands and mbox files.
        services.TryAddSingleton<PipeDelivery>();
        services.TryAddSingleton<IPipeDelivery>(sp => sp.GetRequiredService<PipeDelivery>());
        services.TryAddSingleton<MboxFileDelivery>();
        services.TryAddSingleton<IFileDelivery>(sp => sp.GetRequiredService<MboxFileDelivery>());
        services.TryAddSingleton<PipeTransportAgent>();
        services.TryAddSingleton(sp => new NextHopSelector(sp.GetRequiredService<MtaOptions>()));
        services.AddMtaDns();
        services.TryAddSingleton<ITargetResolver>(sp => new DnsTargetResolver(sp.GetRequiredService<Dns.DnsResolver>(),
            sp.GetRequiredService<ILogger<DnsTargetResolver>>()));

        services.TryAddSingleton<MaildirAgent>();
        // Terminals and plugins are optional: a host without them still delivers (terminal routes defer, agents defer).
        services.TryAddSingleton(sp => new TerminalAgent(sp.GetService<Terminal.ITerminals>(), sp.GetRequiredService<MaildirAgent>(),
            sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<ILogger<TerminalAgent>>()));
        services.TryAddSingleton<DiscardAgent>();
        services.TryAddSingleton(sp => new PluginAgents(sp.GetService<ExtensionRegistry>() ?? new ExtensionRegistry(),
            sp.GetRequiredService<ILogger<PluginAgents>>()));
        services.TryAddSingleton<SmtpDeliveryAgent>();
        services.TryAddSingleton(sp => new Maps.AliasTable(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<MtaPaths>(),
            sp.GetRequiredService<ILogger<Maps.AliasTable>>()));
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<Maps.AliasTable>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<MtaOptions>();
            var lmtp = options.Mailboxes.Lmtp.Enabled ? ActivatorUtilities.CreateInstance<LmtpAgent>(sp) : null;
            // The alias step hands local users to the same mailbox agent the router uses for them.
            var aliases = new AliasAgent(sp.GetRequiredService<Maps.AliasTable>(), options, lmtp as Mta.Abstractions.IDeliveryAgent ?? sp.GetRequiredService<MaildirAgent>(),
                lmtp is not null, Submitter(sp), sp.GetService<IPipeDelivery>(), sp.GetService<IFileDelivery>(), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<AliasAgent>>(), live: sp.GetService<Reload.LiveSettings>());
            return new DeliveryAgents(sp.GetRequiredService<MaildirAgent>(), sp.GetRequiredService<TerminalAgent>(),
                sp.GetRequiredService<DiscardAgent>(), sp.GetRequiredService<PluginAgents>(), sp.GetRequiredService<SmtpDeliveryAgent>(), lmtp,
                sp.GetRequiredService<PipeTransportAgent>(), aliases);
        });
        // The router sends virtual mailbox domains to their own Maildirs.
        services.AddMtaMaps();
        services.TryAddSingleton<Router>();

        // DSNs enter the spool the way any message made inside the server does: through the one submitter.
        services.TryAddSingleton(sp => new BounceSender(sp.GetRequiredService<MtaOptions>(), Submitter(sp),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BounceSender>>()));
        services.TryAddSingleton<QueueCounters>();
        // The console's read side: fed by the journal, read through the Status interfaces.
        services.TryAddSingleton<RecentDeliveries>();
        services.TryAddSingleton<IRecentDeliveries>(sp => sp.GetRequiredService<RecentDeliveries>());
        services.TryAddSingleton<DestinationErrors>();
        services.TryAddSingleton<DeliveryJournal>();
        services.TryAddSingleton(sp => new QueueScheduler(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<SegmentSpool>(),
            sp.GetRequiredService<Router>(), sp.GetRequiredService<DeliveryJournal>(), sp.GetRequiredService<QueueCounters>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<QueueScheduler>>(),
            sp.GetService<Telemetry.MtaMetrics>(), sp.GetService<Telemetry.ReceivedSpans>()));
        services.TryAddSingleton(sp => new QueueAdministration(sp.GetRequiredService<QueueScheduler>(), sp.GetRequiredService<DeliveryJournal>(),
            sp.GetRequiredService<SmtpDeliveryAgent>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<QueueAdministration>>()));
        services.TryAddSingleton<IQueueAdministration>(sp => sp.GetRequiredService<QueueAdministration>());
        services.TryAddSingleton(sp => new DestinationStatus(sp.GetRequiredService<QueueScheduler>(), sp.GetRequiredService<Router>(),
            sp.GetRequiredService<SmtpDeliveryAgent>(), sp.GetRequiredService<DestinationErrors>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IDestinationStatus>(sp => sp.GetRequiredService<DestinationStatus>());
        services.AddHostedService(sp => sp.GetRequiredService<QueueScheduler>());
        return services;
    }

    /// <summary>The submitter of messages made inside the server (DSNs, forwarded alias copies): the registered one, else one of its own.</summary>
    private static MessageSubmitter Submitter(IServiceProvider sp) =>
        sp.GetService<Mta.Abstractions.IMessageSubmitter>() as MessageSubmitter ?? new MessageSubmitter(sp.GetRequiredService<IMessageSpool>(),
            sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<MessageSubmitter>>());
}
