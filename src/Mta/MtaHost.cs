// The engine host as `mta run` and `mta turn` start it: one place for config, logging and shutdown settings.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Mta.Configuration;
using Mta.Engine;
using Mta.Engine.Cluster;
using Mta.Engine.Configuration;
using Mta.Engine.Reload;
using Mta.Logging;
using Mta.Web;
using Mta.Web.Metrics;

namespace Mta;

internal static class MtaHost
{
    /// <summary>Builds the host of the whole engine from a loaded configuration.</summary>
    /// <param name="loaded">The configuration.</param>
    /// <param name="logToStandardError">Every log line to standard error, keeping standard output for a command's result.</param>
    /// <param name="asService">`mta run`: tells systemd when it is ready and stopping. False for a command such as
    /// `mta turn`, which may run from a service's shell but is not the service.</param>
    /// <param name="inspect">Sees the registrations before the host is built (<c>mta check</c> lists what it resolves).</param>
    public static IHost Build(LoadedConfig loaded, bool logToStandardError = false, bool asService = true,
        Action<IServiceCollection>? inspect = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(loaded.Configuration);
        builder.Logging.AddConfiguration(loaded.Configuration.GetSection("Logging"));
        AddConsoleLogging(builder.Logging, ChooseLogFormat(loaded.Configuration[LogFormats.Key]), loaded.Options);
        if (logToStandardError)
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = loaded.Options.ShutdownTimeout);
        if (asService) SystemdService.AddNotifications(builder.Services);
        // Before the engine: the SIGHUP handler is then the first hosted service to start.
        builder.Services.AddMtaReload(new ConfigFileReader(loaded));
        builder.Services.AddMtaEngine(loaded.Options);
        builder.Services.AddMtaWeb();
        // Only the server beats as its node: `mta turn` and `mta check` would otherwise pose as it in the cluster view.
        if (asService) builder.Services.AddMtaHeartbeat();
        // Only the service exports: `mta turn` and `mta check` build the same host beside a running server, whose
        // scrape port they must not try to take.
        if (asService) builder.Services.AddMtaTelemetry(loaded.Options);
        inspect?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>The configured format; unset, systemd's when standard output is the journal, else text.</summary>
    internal static LogFormat ChooseLogFormat(string? configured)
    {
        // The loader has validated the value; an unknown one cannot get here.
        LogFormats.TryParse(configured, out var format);
        return format ?? (SystemdService.IsJournalStream() ? LogFormat.Systemd : LogFormat.Text);
    }

    // The node's name on every line: always a field of JSON lines; in text and systemd lines once Node:Name is set (a
    // node of a cluster), so a single server's lines read as before. It rides in the timestamp format as a quoted
    // literal: no formatter of our own and no scope per call; a node name is letters, digits and hyphens only.
    private static void AddConsoleLogging(ILoggingBuilder logging, LogFormat format, MtaOptions options)
    {
        var node = options.Node.ResolveName(options.HostName);
        var nodeLiteral = options.Node.Name is null ? "" : $"'{node} '";
        switch (format)
        {
            case LogFormat.Json:
                logging.AddConsole(o => o.FormatterName = JsonLineFormatter.FormatterName);
                logging.AddConsoleFormatter<JsonLineFormatter, JsonLineFormatterOptions>(o => o.Node = node);
                break;
            case LogFormat.Systemd:
                // "<6>category[id] message": journald takes the priority from the prefix and adds its own timestamp.
                logging.AddSystemdConsole(o =>
                {
                    o.UseUtcTimestamp = true;
                    if (nodeLiteral.Length > 0) o.TimestampFormat = nodeLiteral;
                });
                break;
            default:
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ " + nodeLiteral;
                    o.UseUtcTimestamp = true;
                });
                break;
        }
    }
}
