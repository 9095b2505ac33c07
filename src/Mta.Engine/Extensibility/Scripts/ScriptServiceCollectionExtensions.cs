// Registers the C# script host (Roslyn) as an extension loader, after the plugin loader.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Engine.Extensibility.State;

namespace Mta.Engine.Extensibility.Scripts;

public static class ScriptServiceCollectionExtensions
{
    /// <summary>Adds the <see cref="ScriptHost"/>; it loads the scripts at start through <see cref="ExtensionStartup"/>.</summary>
    public static IServiceCollection AddMtaScripts(this IServiceCollection services)
    {
        // Shared with the plugin loader: one store per owner, so a reloaded script keeps its state.
        services.TryAddSingleton(StateStoreProvider.Create);
        services.AddSingleton<ScriptHost>();
        services.AddSingleton<IExtensionLoader>(sp => sp.GetRequiredService<ScriptHost>());
        return services;
    }
}
