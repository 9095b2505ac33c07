// OTLP/HTTP export of both signals to a collector stand-in on loopback (OtlpReceiver).
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Web;
using Mta.Web.Metrics;

namespace Mta.EndToEnd.Tests;

public sealed class OtlpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_and_traces_reach_an_otlp_http_collector()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        MtaOptions? options = null;
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Telemetry.Otlp.Enabled = true;
            o.Telemetry.Otlp.Endpoint = collector.Address.ToString();
            o.Telemetry.Otlp.MetricsInterval = TimeSpan.FromSeconds(1);
            options = o;
        }, services: s =>
        {
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });

        string queueId;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: otlp\r\n\r\nhello\r\n"), 250);
            queueId = SmtpAssert.QueueIdOf(reply.Lines[^1]);
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        await server.WaitForMailAsync("bob");

        // Metrics every second; spans in the SDK's batches (at most 5 s apart).
        await MetricRecorder.WaitUntilAsync(() => collector.Received("/v1/metrics", "Mta.Receiver", "mta.smtp.transactions", "Mta.Delivery", "mta.delivery.attempts"),
            "the metrics at the collector", TimeSpan.FromSeconds(30));
        await MetricRecorder.WaitUntilAsync(() => collector.Received("/v1/traces", "smtp.session", "mta.delivery", queueId),
            "the session and delivery spans at the collector", TimeSpan.FromSeconds(30));
        Assert.All(collector.Posts, p => Assert.Equal("application/x-protobuf", p.ContentType));
        // The resource names the service.
        Assert.True(collector.Received("/v1/metrics", "service.name", "mta"));
    }

    /// <summary>Keeps the log records of the telemetry classes.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(EventId Id, LogLevel Level, string Message)> Records { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Records.Enqueue((eventId, logLevel, formatter(state, exception)));
        }
    }

    [Fact]
    public async Task The_start_says_what_is_exported_and_a_collector_that_cannot_be_reached_is_logged()
    {
        // A loopback port that nothing listens on.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var logs = new CapturingLoggerProvider();
        MtaOptions? options = null;
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Telemetry.Otlp.Enabled = true;
            o.Telemetry.Otlp.Endpoint = $"http://127.0.0.1:{port}";
            o.Telemetry.Otlp.MetricsInterval = TimeSpan.FromSeconds(1);
            options = o;
        }, services: s =>
        {
            s.AddLogging(b => b.AddProvider(logs).AddFilter<CapturingLoggerProvider>(typeof(TelemetryServiceCollectionExtensions).Namespace, LogLevel.Information));
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });

        var start = Assert.Single(logs.Records, r => r.Id.Id == 1640);
        Assert.Contains($"OTLP HttpProtobuf to http://127.0.0.1:{port}", start.Message);
        Assert.Contains("Prometheus off", start.Message);
        await MetricRecorder.WaitUntilAsync(() => logs.Records.Any(r => r.Id.Id == 1641 && r.Level == LogLevel.Warning),
            "the SDK's export failure in the log", TimeSpan.FromSeconds(30));
        // Once a minute per kind of problem, however often the export fails.
        var problems = logs.Records.Where(r => r.Id.Id == 1641).GroupBy(r => r.Message).ToList();
        Assert.All(problems, g => Assert.Single(g));
    }
}
