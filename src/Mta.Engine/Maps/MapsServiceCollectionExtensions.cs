// Registers the address maps (virtual, canonical), relay domains and the RCPT policy built on them.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Maps;

public static class MapsServiceCollectionExtensions
{
    /// <summary>Adds <see cref="VirtualMaps"/>, <see cref="CanonicalMaps"/>, <see cref="RelayDomains"/> (each also as an
    /// <see cref="IReloadable"/>), <see cref="RecipientVerifier"/>, <see cref="AddressRewriter"/> and the
    /// <see cref="RecipientPolicy"/> the receiver decides RCPT with.</summary>
    public static IServiceCollection AddMtaMaps(this IServiceCollection services)
    {
        // The queue's composition adds the maps (its router needs them) and the engine's may too: register once.
        if (services.Any(d => d.ServiceType == typeof(VirtualMaps))) return services;
        services.TryAddSingleton(sp => new LocalRecipientPolicy(sp.GetRequiredService<MtaOptions>().Mailboxes));
        services.TryAddSingleton<VirtualMaps>();
        services.TryAddSingleton<CanonicalMaps>();
        services.TryAddSingleton<RecipientVerifier>();
        services.TryAddSingleton(sp => new RelayDomains(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<MtaPaths>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<RelayDomains>>(), sp.GetRequiredService<RecipientVerifier>()));
        services.TryAddSingleton<AddressRewriter>();
        services.TryAddSingleton(sp => new RecipientPolicy(sp.GetRequiredService<MtaOptions>().LocalDomains, sp.GetRequiredService<LocalRecipientPolicy>(),
            sp.GetRequiredService<AddressRewriter>(), sp.GetRequiredService<RelayDomains>()));
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<VirtualMaps>());
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<CanonicalMaps>());
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<RelayDomains>());
        return services;
    }
}
