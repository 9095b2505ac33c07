// Registers the plugin loader (McMaster.NETCore.Plugins) as an extension loader, with the state stores and the submitter.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mta.Abstractions;
using Mta.Engine.Extensibility.State;

namespace Mta.Engine.Extensibility.Plugins;

/// <summary>DI registration of plugin loading.</summary>
public static class PluginServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="PluginLoader"/> (as an <see cref="IExtensionLoader"/>), the per-owner <see cref="StateStoreProvider"/>
    /// and the <see cref="IMessageSubmitter"/>. Expects MtaOptions, HookPipeline, ExtensionRegistry, IMessageSpool and
    /// TimeProvider to be registered by the time the host starts.
    /// </summary>
    public static IServiceCollection AddMtaPlugins(this IServiceCollection services)
    {
        services.TryAddSingleton(StateStoreProvider.Create);
        services.TryAddSingleton<IMessageSubmitter, MessageSubmitter>();
        services.TryAddSingleton<PluginLoader>();
        services.AddSingleton<IExtensionLoader>(sp => sp.GetRequiredService<PluginLoader>());
        return services;
    }
}
