// Registers terminal delivery: the sink registry as ITerminals, the control-socket and tty sinks, and terminal.attach.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Extensibility;

namespace Mta.Engine.Terminal;

/// <summary>DI registration of terminal delivery (SEND, SOML, SAML).</summary>
public static class TerminalServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="TerminalRegistry"/> as <see cref="ITerminals"/> over the <see cref="ControlTerminalSink"/>, the
    /// <see cref="TtySink"/> when <c>Terminal:Tty:Enabled</c>, and the sinks plugins add; and the <c>terminal.attach</c>
    /// control command (it refuses while <c>Terminal:Enabled</c> is false). Needs <see cref="MtaOptions"/> in the container,
    /// and <see cref="ExtensionRegistry"/> for plugin sinks; the control server itself comes from
    /// <see cref="ControlServiceCollectionExtensions.AddMtaControl"/>.
    /// </summary>
    public static IServiceCollection AddMtaTerminals(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(TerminalRegistry))) return services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new ControlTerminalSink(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ControlTerminalSink>>())
        {
            // Inside the registry's limit, so a stuck client is dropped by the sink before the registry gives up on it.
            SendTimeout = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(2).Ticks, sp.GetRequiredService<MtaOptions>().Terminal.SinkTimeout.Ticks / 2)),
        });
        services.AddSingleton(sp => new TtySink(sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<TtySink>>()));
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<MtaOptions>();
            var builtIn = new List<ITerminalSink> { sp.GetRequiredService<ControlTerminalSink>() };
            if (options.Terminal.Tty.Enabled) builtIn.Add(sp.GetRequiredService<TtySink>());
            return new TerminalRegistry(options, builtIn, sp.GetService<ExtensionRegistry>(), sp.GetRequiredService<ILogger<TerminalRegistry>>());
        });
        services.AddSingleton<ITerminals>(sp => sp.GetRequiredService<TerminalRegistry>());
        services.AddSingleton<IControlCommandHandler>(sp => new TerminalAttachCommand(sp.GetRequiredService<ControlTerminalSink>(),
            sp.GetRequiredService<MtaOptions>(), sp.GetRequiredService<ILogger<TerminalAttachCommand>>()));
        return services;
    }
}
