// OTLP/HTTP export of both signals to a small collector stand-in on loopback (Kestrel taking /v1/metrics and /v1/traces).
using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Web;
using Mta.Web.Metrics;

namespace Mta.EndToEnd.Tests;

public sealed class OtlpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Takes OTLP/HTTP posts and keeps their bodies by path; answers 200 with an empty protobuf response.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        public ConcurrentQueue<(string Path, string ContentType, byte[] Body)> Posts { get; } = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public Uri Address { get; private set; } = null!;

        public static async Task<OtlpReceiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var receiver = new OtlpReceiver(app);
            foreach (var path in new[] { "/v1/metrics", "/v1/traces" })
            {
                app.MapPost(path, async (HttpContext context) =>
                {
                    using var body = new MemoryStream();
                    await context.Request.Body.CopyToAsync(body);
                    receiver.Posts.Enqueue((path, context.Request.ContentType ?? "", body.ToArray()));
                    context.Response.ContentType = "application/x-protobuf";
                });
            }
            await app.StartAsync();
            receiver.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            return receiver;
        }

        /// <summary>True when a post to <paramref name="path"/> carries every one of <paramref name="strings"/> (protobuf
        /// keeps strings as UTF-8 bytes, so names, tags and ids can be found without decoding).</summary>
        public bool Received(string path, params string[] strings) =>
            Posts.Any(p => p.Path == path && strings.All(s => p.Body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(s)) >= 0));

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }

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
}
