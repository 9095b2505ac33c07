// One line at start saying what the SDK exports, and the SDK's own warnings (a collector that cannot be reached) in Mta's log.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Web.Metrics;

/// <summary>
/// The OpenTelemetry SDK reports its failures (an OTLP collector down, a refused export) on its EventSources, which
/// nobody reads in a service: an operator would see no data at the collector and no reason in the log. This forwards
/// their warnings and errors to the engine's log, at most one line per event kind per <see cref="Quiet"/>, so an export
/// that fails every few seconds does not flood it.
/// </summary>
internal sealed partial class TelemetryLog(TelemetryOptions options, ILogger<TelemetryLog> logger) : IHostedService, IDisposable
{
    /// <summary>How long a repeated SDK problem stays out of the log after its line.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMinutes(1);

    private SdkEventForwarder? _forwarder;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var otlp = options.Otlp;
        LogExporting(options.Metrics ? "on" : "off", options.Traces ? "on" : "off",
            options.Prometheus.Enabled ? options.Prometheus.Path + " on the web listener" : "off",
            otlp.Enabled ? $"{otlp.Protocol} to {otlp.Endpoint}" : "off");
        if (options.Metrics || options.Traces) _forwarder = new SdkEventForwarder(this);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _forwarder?.Dispose();
        _forwarder = null;
    }

    [LoggerMessage(EventId = Engine.LogEvents.Telemetry.Exporting, Level = LogLevel.Information, Message = "Telemetry: metrics {Metrics}, traces {Traces}, Prometheus {Prometheus}, OTLP {Otlp}")]
    private partial void LogExporting(string metrics, string traces, string prometheus, string otlp);

    [LoggerMessage(EventId = Engine.LogEvents.Telemetry.SdkProblem, Level = LogLevel.Warning, Message = "OpenTelemetry SDK ({Source}): {Problem} (repeats of it are left out for a minute)")]
    private partial void LogSdkProblem(string source, string problem);

    /// <summary>Listens to the SDK's EventSources at Warning and above.</summary>
    private sealed class SdkEventForwarder(TelemetryLog owner) : EventListener
    {
        private readonly ConcurrentDictionary<(string, int), long> _lastLogged = new();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            // Called from the base constructor for the sources that exist already: nothing of this class is needed here.
            if (eventSource.Name.StartsWith("OpenTelemetry", StringComparison.Ordinal)) EnableEvents(eventSource, EventLevel.Warning);
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            // Events can arrive while the base constructor runs, before the primary constructor's capture is set.
            if (owner is null || eventData.Level > EventLevel.Warning) return;
            var key = (eventData.EventSource.Name, eventData.EventId);
            var now = Stopwatch.GetTimestamp();
            if (_lastLogged.TryGetValue(key, out var last) && Stopwatch.GetElapsedTime(last, now) < Quiet) return;
            _lastLogged[key] = now;
            owner.LogSdkProblem(eventData.EventSource.Name, Format(eventData));
        }

        private static string Format(EventWrittenEventArgs e)
        {
            var args = e.Payload?.ToArray() ?? [];
            if (e.Message is not { Length: > 0 } message) return e.EventName + " " + string.Join(", ", args);
            try
            {
                return string.Format(CultureInfo.InvariantCulture, message, args);
            }
            catch (FormatException)
            {
                return message + " " + string.Join(", ", args);
            }
        }
    }
}
