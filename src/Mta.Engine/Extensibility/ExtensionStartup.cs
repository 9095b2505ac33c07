// Loads plugins, then scripts, before the queue and the listeners start: no session ever runs without its policy.
using Microsoft.Extensions.Hosting;

namespace Mta.Engine.Extensibility;

/// <summary>A source of hook handlers loaded at start (plugins, scripts).</summary>
public interface IExtensionLoader
{
    /// <summary>Loads and registers everything; throws <see cref="Configuration.StartupException"/> to refuse to start.</summary>
    Task LoadAsync(CancellationToken cancellationToken);
}

/// <summary>Runs every <see cref="IExtensionLoader"/> in registration order as the first hosted service.</summary>
public sealed class ExtensionStartup(IEnumerable<IExtensionLoader> loaders) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var loader in loaders) await loader.LoadAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
