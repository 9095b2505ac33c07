// Builds plugin entries and their Settings sections the way mta.config.json would bind them.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Plugins.Tests.Infrastructure;

public static class PluginConfig
{
    /// <summary>A <c>Settings</c> section holding <paramref name="values"/>.</summary>
    public static IConfigurationSection Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>("Settings:" + v.Key, v.Value)))
            .Build()
            .GetSection("Settings");

    public static PluginOptions Probe(int order = 0, params (string Key, string Value)[] settings) =>
        new() { Path = PluginServer.ProbeOutput, Order = order, Settings = Settings(settings) };
}
