// mta-bench span-cost: what tracing adds per message, measured on the server's own span code and SDK pipeline.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;
using Mta.Engine.Telemetry;
using Mta.Web.Metrics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mta.Bench;

/// <summary>
/// Runs, on one thread, the telemetry calls the server makes for each message (the session's span every
/// <c>--per-session</c> messages, the message event, the receipt link, one delivery span) under one of three set-ups:
/// <c>off</c> (no listener: what a server without tracing pays), <c>sdk</c> (the SDK's tracer provider with the
/// server's sampler and no exporter: spans made and recorded, nobody reads them) and <c>otlp</c> (the provider exactly
/// as <c>mta run</c> builds it, exporting over OTLP/HTTP to <c>--endpoint</c>). Prints the process CPU and bytes
/// allocated per message, the exporter's thread included (flushed before the clock stops).
/// </summary>
internal static class SpanCost
{
    public const string Usage = """
        usage: mta-bench span-cost --mode off|sdk|otlp [--messages N] [--per-session K] [--ratio R] [--endpoint URL]

          --mode M          off, sdk (provider, no exporter) or otlp (provider and exporter as mta run builds them)
          --messages N      messages to trace after a warm-up of N/10 (default 200000)
          --per-session K   messages per SMTP session: 1 is MX traffic, more is a submission client (default 1)
          --ratio R         Telemetry:TraceSampleRatio (default 1)
          --endpoint URL    the OTLP/HTTP collector for --mode otlp (default http://127.0.0.1:4318)

        Prints: span-cost: MODE ratio=R per-session=K: N msgs, C us CPU/msg, A bytes/msg
        """;

    public static int Run(string[] args)
    {
        string mode = "off", endpoint = "http://127.0.0.1:4318";
        int messages = 200_000, perSession = 1;
        double ratio = 1;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--mode": mode = args[i + 1]; break;
                case "--messages": messages = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--per-session": perSession = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--ratio": ratio = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--endpoint": endpoint = args[i + 1]; break;
                default: Console.Error.WriteLine(Usage); return 2;
            }
        }
        if (mode is not ("off" or "sdk" or "otlp") || messages <= 0 || perSession <= 0 || ratio is < 0 or > 1)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var tracing = StartTracing(mode, ratio, endpoint);
        var received = new ReceivedSpans();
        var remote = new IPEndPoint(IPAddress.Loopback, 40000);
        var local = new IPEndPoint(IPAddress.Loopback, 2525);

        TraceMessages(messages / 10, perSession, received, remote, local);
        tracing?.ForceFlush();
        GC.Collect();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var bytesBefore = GC.GetTotalAllocatedBytes(precise: true);
        TraceMessages(messages, perSession, received, remote, local);
        tracing?.ForceFlush();
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - bytesBefore;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"span-cost: {mode} ratio={ratio} per-session={perSession}: {messages} msgs, {cpu.TotalMicroseconds / messages:F2} us CPU/msg, {bytes / (double)messages:F0} bytes/msg"));
        return 0;
    }

    private static TracerProvider? StartTracing(string mode, double ratio, string endpoint)
    {
        if (mode == "off") return null;
        if (mode == "sdk")
        {
            return Sdk.CreateTracerProviderBuilder()
                .AddSource([.. MtaTelemetry.ActivitySourceNames])
                .SetSampler(new MessageSampler(ratio))
                .Build();
        }
        var options = new MtaOptions
        {
            Telemetry = new TelemetryOptions
            {
                Metrics = false,
                Traces = true,
                TraceSampleRatio = ratio,
                Otlp = new OtlpOptions { Enabled = true, Endpoint = endpoint },
            },
        };
        var services = new ServiceCollection().AddLogging().AddMtaTelemetry(options).BuildServiceProvider();
        return services.GetRequiredService<TracerProvider>();
    }

    // What SmtpSession and QueueScheduler call for each message, in the order they call it.
    private static void TraceMessages(int messages, int perSession, ReceivedSpans received, IPEndPoint remote, IPEndPoint local)
    {
        Activity? session = null;
        for (var i = 0; i < messages; i++)
        {
            if (i % perSession == 0)
            {
                SessionSpans.End(session, "QUIT", perSession, null);
                session = SessionSpans.Start(remote, local, "smtp", "S" + i.ToString(CultureInfo.InvariantCulture));
            }
            var queueId = QueueIds.Next();
            SessionSpans.Queueing(session, queueId, received);
            SessionSpans.MessageAnswered(session, queueId, 250, 1024);
            var delivery = DeliverySpans.Start(queueId, "local", "localhost", 1, received);
            DeliverySpans.End(delivery, "delivered", null);
            received.Remove(queueId);
        }
        SessionSpans.End(session, "QUIT", perSession, null);
    }
}
