// Registers the plugin loader (McMaster.NETCore.Plugins) as an extension loader.
using Microsoft.Extensions.DependencyInjection;

namespace Mta.Engine.Extensibility.Plugins;

public static class PluginServiceCollectionExtensions
{
    public static IServiceCollection AddMtaPlugins(this IServiceCollection services) => services;
}
