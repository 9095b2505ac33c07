// The engine host as `mta run` and `mta turn` start it: one place for config, logging and shutdown settings.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Mta.Configuration;
using Mta.Engine;
using Mta.Engine.Reload;

namespace Mta;

internal static class MtaHost
{
    /// <summary>Builds the host of the whole engine from a loaded configuration.</summary>
    /// <param name="loaded">The configuration.</param>
    /// <param name="logToStandardError">Every log line to standard error, keeping standard output for a command's result.</param>
    /// <param name="inspect">Sees the registrations before the host is built (<c>mta check</c> lists what it resolves).</param>
    public static IHost Build(LoadedConfig loaded, bool logToStandardError = false, Action<IServiceCollection>? inspect = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(loaded.Configuration);
        builder.Logging.AddConfiguration(loaded.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        if (logToStandardError)
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = loaded.Options.ShutdownTimeout);
        // Before the engine: the SIGHUP handler is then the first hosted service to start.
        builder.Services.AddMtaReload(new ConfigFileReader(loaded));
        builder.Services.AddMtaEngine(loaded.Options);
        inspect?.Invoke(builder.Services);
        return builder.Build();
    }
}
