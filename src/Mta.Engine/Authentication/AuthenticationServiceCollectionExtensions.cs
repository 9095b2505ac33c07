// Registers the server's resolver and the mail-authentication parts: the inbound checks and the DKIM/ARC signers.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Authentication.Arc;
using Mta.Engine.Authentication.Dkim;
using Mta.Engine.Authentication.Dmarc;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Authentication.Spf;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;

namespace Mta.Engine.Authentication;

public static class AuthenticationServiceCollectionExtensions
{
    /// <summary>The one <see cref="DnsResolver"/> (also as <see cref="IDnsResolver"/>). Expects MtaOptions and TimeProvider.</summary>
    public static IServiceCollection AddMtaDns(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => new DnsResolver(sp.GetRequiredService<MtaOptions>().Dns, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<DnsResolver>>(), sp.GetService<Telemetry.MtaMetrics>()));
        services.TryAddSingleton<IDnsResolver>(sp => sp.GetRequiredService<DnsResolver>());
        return services;
    }

    /// <summary>SPF, DKIM, ARC and DMARC verification (<see cref="InboundAuthenticator"/>), the DKIM key store, signer and
    /// ARC sealer. Keys are loaded when first asked for, which the receiver does at start: a bad key file stops start-up.</summary>
    public static IServiceCollection AddMtaAuthentication(this IServiceCollection services)
    {
        services.AddMtaDns();
        services.TryAddSingleton(sp => new SpfEvaluator(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<MtaOptions>().HostName,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SpfEvaluator>>()));
        services.TryAddSingleton(sp => new DnsDkimKeyLocator(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<ILogger<DnsDkimKeyLocator>>()));
        services.TryAddSingleton(sp =>
        {
            var verify = sp.GetRequiredService<MtaOptions>().Authentication.Verify;
            return new DkimVerification(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<TimeProvider>(), verify.MaxSignatures,
                verify.MinimumRsaKeyBits, sp.GetRequiredService<ILogger<DkimVerification>>());
        });
        services.TryAddSingleton(sp => new ArcVerification(sp.GetRequiredService<DnsDkimKeyLocator>(), sp.GetRequiredService<ILogger<ArcVerification>>()));
        services.TryAddSingleton(sp => PublicSuffixList.LoadOrDefault(sp.GetRequiredService<MtaOptions>().Authentication.Dmarc.PublicSuffixList is { Length: > 0 } list
            ? sp.GetRequiredService<MtaPaths>().Resolve(list) : null));
        services.TryAddSingleton(sp => new DmarcEvaluator(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<PublicSuffixList>(),
            sp.GetRequiredService<ILogger<DmarcEvaluator>>()));
        services.TryAddSingleton<InboundAuthenticator>();
        services.TryAddSingleton(sp => new DkimKeyStore(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<MtaPaths>(),
            sp.GetRequiredService<ILogger<DkimKeyStore>>()));
        services.TryAddSingleton(sp => new DkimMessageSigner(sp.GetRequiredService<DkimKeyStore>(), sp.GetRequiredService<MtaOptions>().Authentication.Signing,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DkimMessageSigner>>()));
        services.TryAddSingleton(sp => new ArcSealer(sp.GetRequiredService<DkimKeyStore>(), sp.GetRequiredService<MtaOptions>().Authentication.Signing,
            sp.GetRequiredService<DnsDkimKeyLocator>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ArcSealer>>()));
        return services;
    }
}
