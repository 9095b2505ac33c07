// Registers the HTTP side with the engine's host: the listener and the areas built in.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Web.Hosting;

namespace Mta.Web;

/// <summary>Adds the web host to the engine's services.</summary>
public static class WebServiceCollectionExtensions
{
    /// <summary>Registers <see cref="MtaWebServer"/> as a hosted service, after the engine's own, so the SMTP listeners
    /// are bound before the console and <c>/readyz</c> answer, and the console stops first. Call after
    /// <c>AddMtaEngine</c>.</summary>
    public static IServiceCollection AddMtaWeb(this IServiceCollection services)
    {
        services.TryAddSingleton<MtaWebServer>();
        services.AddSingleton<IWebModule, Health.HealthModule>();
        services.AddSingleton<IWebModule, Console.ConsoleModule>();
        services.AddHostedService(sp => sp.GetRequiredService<MtaWebServer>());
        return services;
    }
}
