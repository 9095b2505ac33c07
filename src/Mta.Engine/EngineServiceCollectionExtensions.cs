// The engine's composition root: everything `mta run` and the end-to-end tests start.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Auth;
using Mta.Engine.Authentication;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Terminal;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Containment;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Extensibility.Scripts;
using Mta.Engine.Maps;
using Mta.Engine.Pickup;
using Mta.Engine.Queue;
using Mta.Engine.Receiver;
using Mta.Engine.Telemetry;
using Mta.Engine.Tls;

namespace Mta.Engine;

public static class EngineServiceCollectionExtensions
{
    /// <summary>Registers the receiver, hook pipeline, spool, queue manager and local delivery.</summary>
    /// <param name="services">The host's services.</param>
    /// <param name="options">Validated options.</param>
    /// <param name="registerHooks">Adds hook handlers in code (plugins and scripts use the same registrar).</param>
    public static IServiceCollection AddMtaEngine(this IServiceCollection services, MtaOptions options, Action<IHookRegistrar>? registerHooks = null)
    {
        services.AddSingleton(options);
        services.AddSingleton(new MtaPaths(options));
        services.AddSingleton(TimeProvider.System);
        services.AddMtaMetrics();
        services.AddSingleton<Redis.RedisConnection>();
        services.AddSingleton<Extensibility.State.Redis.RedisStateResilience>();
        services.AddSingleton(sp =>
        {
            var pipeline = new HookPipeline(sp.GetRequiredService<ILogger<HookPipeline>>(), options.Hooks.Timeout,
                sp.GetRequiredService<Extensibility.Containment.HookContainment>(), sp.GetService<Telemetry.MtaMetrics>());
            registerHooks?.Invoke(pipeline);
            return pipeline;
        });
        services.AddSingleton<IHookRegistrar>(sp => sp.GetRequiredService<HookPipeline>());
        services.AddMtaHookContainment();
        services.AddSingleton<ExtensionRegistry>();
        // Plugins and scripts register before anything that runs hooks starts.
        services.AddHostedService<ExtensionStartup>();
        services.AddMtaAuthentication();
        services.AddMtaPlugins();
        services.AddMtaScripts();
        services.AddMtaQueue();
        services.AddMtaMaps();
        services.AddMtaControl();
        services.AddMtaTerminals();
        services.AddMtaAuth();
        services.AddSingleton<CertificateProvider>();
        services.AddSingleton<ReceiverContext>();
        // What a reload (SIGHUP, `mta reload`) hands the new configuration to, in this order.
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<CertificateProvider>());
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<UserStore>());
        services.AddSingleton<Reload.LiveSettings>();
        services.AddSingleton<IReloadable>(sp => sp.GetRequiredService<Reload.LiveSettings>());
        services.AddSingleton<SmtpServer>();
        // The queue starts first (recovery), then the listeners; the host stops them in reverse order.
        services.AddHostedService(sp => sp.GetRequiredService<SmtpServer>());
        // `mta status` and the console's overview: resolved with the other hosted services, before any starts, so
        // its meter listener sees the first connection.
        Status.StatusServiceCollectionExtensions.AddMtaStatus(services);
        // Local submissions from the maildrop go through the SMTP sessions: after the server, stopped before it.
        services.AddMtaPickup();
        return services;
    }
}
