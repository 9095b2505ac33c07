// Registers the spool, local and remote delivery, DSNs and the queue manager with the host.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mta.Engine.Bounces;
using Mta.Engine.Authentication;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

public static class QueueServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="SegmentSpool"/> (also as <see cref="IMessageSpool"/>), <see cref="MaildirDelivery"/>, the delivery
    /// agents (<see cref="MaildirAgent"/>, <see cref="TerminalAgent"/>, <see cref="DiscardAgent"/>, <see cref="PluginAgents"/>
    /// and <see cref="SmtpDeliveryAgent"/> with next-hop selection, DNS resolution, per-destination pipelines), DSNs and <see cref="QueueManager"/> as a
    /// hosted service (also as <see cref="IQueueAdministration"/>). Expects MtaOptions, MtaPaths, HookPipeline and
    /// TimeProvider to be registered. Register it before the listeners so recovery starts before the first session.
    /// A test may register its own <see cref="ITargetResolver"/> first (a stub) and it is kept.
    /// </summary>
    public static IServiceCollection AddMtaQueue(this IServiceCollection services)
    {
        services.TryAddSingleton<SegmentSpool>();
        services.TryAddSingleton<IMessageSpool>(sp => sp.GetRequiredService<SegmentSpool>());
        services.TryAddSingleton<MaildirDelivery>();
        services.TryAddSingleton(sp => new NextHopSelector(sp.GetRequiredService<MtaOptions>()));
        services.AddMtaDns();
        services.TryAddSingleton<ITargetResolver>(sp => new DnsTargetResolver(sp.GetRequiredService<Dns.DnsResolver>(),
            sp.GetRequiredService<ILogger<DnsTargetResolver>>()));
        // The delivery agents, one per route kind (Mailbox, Terminal, Discard, Agent, Remote).
        services.TryAddSingleton(sp => new MaildirAgent(sp.GetRequiredService<MaildirDelivery>(), sp.GetRequiredService<MtaOptions>(),
            sp.GetRequiredService<ILogger<MaildirAgent>>()));
        services.TryAddSingleton(sp => new TerminalAgent(sp.GetService<Terminal.ITerminals>(), sp.GetRequiredService<MaildirAgent>(),
            sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<ILogger<TerminalAgent>>()));
        services.TryAddSingleton<DiscardAgent>();
        services.TryAddSingleton(sp => new PluginAgents(sp.GetService<ExtensionRegistry>() ?? new ExtensionRegistry(),
            sp.GetRequiredService<ILogger<PluginAgents>>()));
        services.TryAddSingleton(sp => new SmtpDeliveryAgent(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<NextHopSelector>(),
            sp.GetRequiredService<ITargetResolver>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SmtpDeliveryAgent>>()));
        // DSNs enter the spool the way any message made inside the server does: through the one submitter.
        services.TryAddSingleton(sp => new BounceSender(sp.GetRequiredService<MtaOptions>(),
            sp.GetService<Mta.Abstractions.IMessageSubmitter>() as MessageSubmitter ?? new MessageSubmitter(sp.GetRequiredService<IMessageSpool>(),
                sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<MessageSubmitter>>()),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BounceSender>>()));
        services.TryAddSingleton(sp => new QueueManager(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<HookPipeline>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<QueueManager>>(), sp.GetRequiredService<SegmentSpool>(),
            sp.GetRequiredService<MaildirDelivery>(), sp.GetService<ExtensionRegistry>(), sp.GetRequiredService<SmtpDeliveryAgent>(),
            sp.GetRequiredService<BounceSender>(), sp.GetService<ILoggerFactory>(), sp.GetService<Terminal.ITerminals>()));
        services.TryAddSingleton<IQueueAdministration>(sp => sp.GetRequiredService<QueueManager>());
        services.AddHostedService(sp => sp.GetRequiredService<QueueManager>());
        return services;
    }
}
