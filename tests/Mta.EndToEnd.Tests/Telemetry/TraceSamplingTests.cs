// Telemetry:TraceSampleRatio over real SMTP and a real OTLP export: a message is traced whole (receipt and delivery) or
// not at all. Alone in its collection: a SpanRecorder of another test samples every span of the process.
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Web;
using Mta.Web.Metrics;

namespace Mta.EndToEnd.Tests;

[CollectionDefinition(nameof(TraceSamplingTests), DisableParallelization = true)]
public sealed class TraceSamplingCollection;

[Collection(nameof(TraceSamplingTests))]
public sealed class TraceSamplingTests
{
    private static async Task<string[]> SendOneMessagePerSessionAsync(MtaTestServer server, int sessions)
    {
        var ids = new string[sessions];
        for (var i = 0; i < sessions; i++)
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c);
            var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], $"Subject: {i}\r\n\r\nbody {i}\r\n"), 250);
            ids[i] = SmtpAssert.QueueIdOf(reply.Lines[^1]);
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        await server.WaitForMailAsync("bob", sessions, TimeSpan.FromSeconds(60));
        return ids;
    }

    private static Task<MtaTestServer> StartTracedAsync(OtlpReceiver collector, double ratio)
    {
        MtaOptions? options = null;
        return MtaTestServer.StartAsync(o =>
        {
            o.Telemetry.Metrics = false;
            o.Telemetry.TraceSampleRatio = ratio;
            o.Telemetry.Otlp.Enabled = true;
            o.Telemetry.Otlp.Endpoint = collector.Address.ToString();
            options = o;
        }, services: s =>
        {
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });
    }

    [Fact]
    public async Task At_half_a_message_is_traced_with_its_delivery_or_not_at_all()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        string[] ids;
        await using (var server = await StartTracedAsync(collector, 0.5))
        {
            ids = await SendOneMessagePerSessionAsync(server, 40);
        }
        // Disposing the server flushed the SDK's batch. A traced message's id is in its session's event and in its
        // delivery span: twice, never once.
        var counts = ids.Select(id => collector.Count("/v1/traces", id)).ToArray();
        Assert.All(counts, n => Assert.True(n is 0 or 2, $"a queue id found {n} times in the exported spans"));
        var traced = counts.Count(n => n == 2);
        // 40 fair coins: all heads or all tails has odds of 2 in 10^12.
        Assert.InRange(traced, 1, ids.Length - 1);
        Assert.Equal(traced, collector.Count("/v1/traces", "smtp.session"));
        Assert.Equal(traced, collector.Count("/v1/traces", "mta.delivery"));
    }

    [Fact]
    public async Task At_zero_nothing_is_traced_and_at_one_everything_is()
    {
        await using var none = await OtlpReceiver.StartAsync();
        await using (var server = await StartTracedAsync(none, 0))
        {
            await SendOneMessagePerSessionAsync(server, 5);
        }
        Assert.Equal(0, none.Count("/v1/traces", "smtp.session"));
        Assert.Equal(0, none.Count("/v1/traces", "mta.delivery"));

        await using var all = await OtlpReceiver.StartAsync();
        string[] ids;
        await using (var server = await StartTracedAsync(all, 1))
        {
            ids = await SendOneMessagePerSessionAsync(server, 5);
        }
        Assert.All(ids, id => Assert.Equal(2, all.Count("/v1/traces", id)));
    }
}
