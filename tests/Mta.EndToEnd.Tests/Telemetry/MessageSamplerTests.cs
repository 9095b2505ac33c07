// The sampler's decisions, unit by unit: sessions by trace id, deliveries by their link or their queue id.
using System.Diagnostics;
using Mta.Engine.Spool;
using Mta.Engine.Telemetry;
using Mta.Web.Metrics;
using OpenTelemetry.Trace;

namespace Mta.EndToEnd.Tests;

public sealed class MessageSamplerTests
{
    private static SamplingDecision Session(MessageSampler sampler, ActivityTraceId traceId) =>
        sampler.ShouldSample(new SamplingParameters(default, traceId, SessionSpans.Name, ActivityKind.Server)).Decision;

    private static SamplingDecision Delivery(MessageSampler sampler, string queueId, params ActivityLink[] links) =>
        sampler.ShouldSample(new SamplingParameters(default, ActivityTraceId.CreateRandom(), DeliverySpans.Name, ActivityKind.Client,
            [new(MtaTelemetry.Tags.QueueId, queueId)], links)).Decision;

    private static ActivityLink LinkTo(bool recorded) => new(new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(),
        recorded ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None));

    [Fact]
    public void A_delivery_follows_the_session_it_links_to_whatever_the_ratio()
    {
        var none = new MessageSampler(0);
        Assert.Equal(SamplingDecision.RecordAndSample, Delivery(none, QueueIds.Next(), LinkTo(recorded: true)));
        Assert.Equal(SamplingDecision.Drop, Delivery(none, QueueIds.Next()));
        Assert.Equal(SamplingDecision.Drop, Session(none, ActivityTraceId.CreateRandom()));

        var all = new MessageSampler(1);
        Assert.Equal(SamplingDecision.RecordAndSample, Delivery(all, QueueIds.Next()));
        Assert.Equal(SamplingDecision.RecordAndSample, Session(all, ActivityTraceId.CreateRandom()));
    }

    [Fact]
    public void Without_a_link_a_message_is_decided_by_its_queue_id_the_same_way_every_attempt_at_the_ratio()
    {
        var sampler = new MessageSampler(0.3);
        var ids = Enumerable.Range(0, 20_000).Select(_ => QueueIds.Next()).ToArray();
        var first = ids.Select(id => Delivery(sampler, id)).ToArray();
        // Every later attempt, and another process with the same ratio, decides alike.
        Assert.Equal(first, ids.Select(id => Delivery(new MessageSampler(0.3), id)).ToArray());
        // Ids made in one burst share their time prefix; the hash must still spread them.
        var kept = first.Count(d => d == SamplingDecision.RecordAndSample) / (double)ids.Length;
        Assert.InRange(kept, 0.27, 0.33);
        var sessions = Enumerable.Range(0, 20_000).Count(_ => Session(sampler, ActivityTraceId.CreateRandom()) == SamplingDecision.RecordAndSample);
        Assert.InRange(sessions / 20_000.0, 0.27, 0.33);
    }
}
