// Head sampling by message: a session is sampled by its trace id, and each delivery follows the session that received it.
using System.Diagnostics;
using Mta.Engine.Telemetry;
using OpenTelemetry.Trace;

namespace Mta.Web.Metrics;

/// <summary>
/// The sampler behind <c>Telemetry:TraceSampleRatio</c>. SMTP has no trace context to inherit, so a session span is a
/// root and is kept at the ratio by its trace id. A delivery span is kept exactly when the session span it links to
/// was recorded (a message of an unsampled session makes no delivery span at all: <see cref="DeliverySpans"/> never
/// starts one), and one with no link is kept by a hash of its queue id, so every attempt at that message agrees.
/// </summary>
internal sealed class MessageSampler : Sampler
{
    private static readonly SamplingResult Keep = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    private readonly TraceIdRatioBasedSampler _byTraceId;
    private readonly ulong _threshold;
    private readonly bool _all;

    public MessageSampler(double ratio)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ratio, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ratio, 1);
        _all = ratio >= 1;
        _byTraceId = new TraceIdRatioBasedSampler(ratio);
        _threshold = _all ? ulong.MaxValue : (ulong)(ratio * ulong.MaxValue);
        Description = $"MessageSampler{{{ratio}}}";
    }

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (_all) return Keep;
        if (samplingParameters.Name != DeliverySpans.Name) return _byTraceId.ShouldSample(samplingParameters);
        if (samplingParameters.Links is { } links)
        {
            foreach (var link in links)
                if ((link.Context.TraceFlags & ActivityTraceFlags.Recorded) != 0) return Keep;
        }
        return QueueIdOf(samplingParameters) is { } queueId && Hash(queueId) <= _threshold ? Keep : Drop;
    }

    private static string? QueueIdOf(in SamplingParameters parameters)
    {
        if (parameters.Tags is null) return null;
        foreach (var tag in parameters.Tags)
            if (tag.Key == MtaTelemetry.Tags.QueueId) return tag.Value as string;
        return null;
    }

    // FNV-1a over the whole id: its leading characters are its arrival time, so a burst must not be decided as one;
    // stable across restarts, unlike string.GetHashCode.
    private static ulong Hash(string queueId)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in queueId) hash = (hash ^ c) * 1099511628211UL;
        // FNV's low bits mix poorly into the top; fold them so the threshold compares a well-spread value.
        hash ^= hash >> 29;
        hash *= 0xBF58476D1CE4E5B9UL;
        return hash ^ (hash >> 32);
    }
}
