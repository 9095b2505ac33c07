// Registers the spool, local delivery and the queue manager with the host.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Delivery;
using Mta.Engine.Spool;

namespace Mta.Engine.Queue;

public static class QueueServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="SegmentSpool"/> (also as <see cref="IMessageSpool"/>), <see cref="MaildirDelivery"/> and
    /// <see cref="QueueManager"/> as a hosted service. Expects MtaOptions, MtaPaths, HookPipeline and TimeProvider
    /// to be registered. Register it before the listeners so recovery starts before the first session.
    /// </summary>
    public static IServiceCollection AddMtaQueue(this IServiceCollection services)
    {
        services.TryAddSingleton<SegmentSpool>();
        services.TryAddSingleton<IMessageSpool>(sp => sp.GetRequiredService<SegmentSpool>());
        services.TryAddSingleton<MaildirDelivery>();
        services.TryAddSingleton<QueueManager>();
        services.AddHostedService(sp => sp.GetRequiredService<QueueManager>());
        return services;
    }
}
