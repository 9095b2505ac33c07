// Registers the address maps (virtual, canonical) and relay domains the RCPT policy and the router use.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Maps;

public static class MapsServiceCollectionExtensions
{
    /// <summary>Adds <see cref="VirtualMaps"/>, <see cref="CanonicalMaps"/>, <see cref="RelayDomains"/> (each also as an
    /// <see cref="IReloadable"/>), <see cref="RecipientVerifier"/> and <see cref="AddressRewriter"/>, which the
    /// live RCPT policy (<see cref="Reload.LiveSettings"/>) is built on.</summary>
    public static IServiceCollection AddMtaMaps(this IServiceCollection services)
    {
        // The queue's composition adds the maps (its router needs them) and the engine's may too: register once.
        if (services.Any(d => d.ServiceType == typeof(VirtualMaps))) return services;
        services.TryAddSingleton<VirtualMaps>();
        services.TryAddSingleton<CanonicalMaps>();
        services.TryAddSingleton<RecipientVerifier>();
        services.TryAddSingleton(sp => new RelayDomains(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<MtaPaths>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<RelayDomains>>(), sp.GetRequiredService<RecipientVerifier>()));
        // The local mailbox policy in service is the live one, read per lookup (the live settings are built on this
        // rewriter, hence the late lookup).
        services.TryAddSingleton(sp =>
        {
            var fixedPolicy = new Lazy<LocalRecipientPolicy>(() => new LocalRecipientPolicy(sp.GetRequiredService<MtaOptions>().Mailboxes));
            return new AddressRewriter(sp.GetRequiredService<VirtualMaps>(), sp.GetRequiredService<CanonicalMaps>(),
                () => sp.GetService<Reload.LiveSettings>()?.Current.Recipients.Mailboxes ?? fixedPolicy.Value);
        });
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<VirtualMaps>());
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<CanonicalMaps>());
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<RelayDomains>());
        return services;
    }
}
