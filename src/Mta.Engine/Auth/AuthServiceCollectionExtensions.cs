// Registers the AUTH building blocks: the users file, its password-hashing threads and the per-IP failure limiter.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Auth;

/// <summary>DI registration for <see cref="UserStore"/>, <see cref="PasswordHashPool"/> and <see cref="AuthFailureLimiter"/>.</summary>
public static class AuthServiceCollectionExtensions
{
    /// <summary>Adds <see cref="UserStore"/>, <see cref="PasswordHashPool"/> and <see cref="AuthFailureLimiter"/> as singletons. Needs
    /// <see cref="MtaOptions"/> registered; uses the registered <see cref="TimeProvider"/>, else the system clock.</summary>
    public static IServiceCollection AddMtaAuth(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp =>
        {
            var auth = sp.GetRequiredService<MtaOptions>().Auth;
            return new PasswordHashPool(auth.EffectiveHashWorkers, auth.HashQueueLimit);
        });
        services.TryAddSingleton(sp => new UserStore(sp.GetRequiredService<MtaOptions>(), sp.GetService<ILogger<UserStore>>(),
            sp.GetRequiredService<PasswordHashPool>()));
        services.TryAddSingleton(sp => new AuthFailureLimiter(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetService<Extensibility.State.StateStoreProvider>() is { IsShared: true } states ? states.Get(AuthFailureLimiter.StateOwner) : null));
        return services;
    }
}
