// The pickup's composition root: the in-process submitter and the hosted service that feeds it.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Mta.Engine.Pickup;

internal static class PickupServiceCollectionExtensions
{
    /// <summary>Registers the pickup; add it after the SMTP server's hosted service, so that it starts after the queue and
    /// the listeners and stops before them.</summary>
    public static IServiceCollection AddMtaPickup(this IServiceCollection services)
    {
        services.TryAddSingleton<PickupSubmitter>();
        services.TryAddSingleton<PickupService>();
        services.AddHostedService(sp => sp.GetRequiredService<PickupService>());
        return services;
    }
}
