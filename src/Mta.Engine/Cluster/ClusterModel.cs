// What a node publishes about itself to Redis, and the cluster as `mta status --cluster` and the console show it.
using System.Text.Json.Serialization;
using Mta.Engine.Status;

namespace Mta.Engine.Cluster;

/// <summary>One node's heartbeat: who it is, whether it can take mail, and its queue, as of <paramref name="At"/>.</summary>
/// <param name="Node">The node's name (<c>Node:Name</c>).</param>
/// <param name="HostName">Its <c>HostName</c>, as in its greeting.</param>
/// <param name="Version">The Mta version it runs.</param>
/// <param name="Instance">One process: a node that restarts gets a new one, and two processes beating under one name differ in it.</param>
/// <param name="QueueIdTag">The two characters every queue id of this node carries after its time part.</param>
/// <param name="StartedAt">When the process started.</param>
/// <param name="At">When this heartbeat was written.</param>
/// <param name="Interval">How often the node beats; others call it down after three intervals without a beat.</param>
/// <param name="Stopped">The node shut down cleanly; this was its last beat.</param>
/// <param name="Listeners">Its SMTP listeners with the endpoints bound.</param>
/// <param name="Health">Whether it can take mail.</param>
/// <param name="Queue">Its queue by recipient state, and the oldest message's age.</param>
/// <param name="ConnectionsOpen">SMTP connections open.</param>
/// <param name="AcceptedLastMinute">SMTP transactions accepted in the last minute.</param>
public sealed record NodeHeartbeat(
    string Node,
    string HostName,
    string Version,
    string Instance,
    string QueueIdTag,
    DateTimeOffset StartedAt,
    DateTimeOffset At,
    TimeSpan Interval,
    bool Stopped,
    IReadOnlyList<ListenerStatus> Listeners,
    NodeHealth Health,
    QueueStatus Queue,
    long ConnectionsOpen,
    double AcceptedLastMinute);

/// <summary>Readiness as <c>/readyz</c> reports it: every SMTP listener bound and the spool writable.</summary>
/// <param name="Ready">Both hold.</param>
/// <param name="ListenersBound">Every configured SMTP listener is bound.</param>
/// <param name="SpoolWritable">The spool took a write and an fsync.</param>
/// <param name="Problem">What is wrong when not ready; null when ready.</param>
public sealed record NodeHealth(bool Ready, bool ListenersBound, bool SpoolWritable, string? Problem);

/// <summary>A node as the cluster view sees it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NodeState>))]
public enum NodeState
{
    /// <summary>It beat within three of its intervals.</summary>
    [JsonStringEnumMemberName("up")]
    Up,

    /// <summary>It has not beaten for three of its intervals (killed, hung, cut off from Redis); its queue waits for it.</summary>
    [JsonStringEnumMemberName("down")]
    Down,

    /// <summary>It shut down cleanly; its queue waits for it to start again.</summary>
    [JsonStringEnumMemberName("stopped")]
    Stopped,
}

/// <summary>One node in the cluster view.</summary>
/// <param name="Node">Its name.</param>
/// <param name="State">Up, down or stopped.</param>
/// <param name="LastBeatAge">How long ago its last heartbeat was written, by the reader's clock.</param>
/// <param name="Heartbeat">Its last heartbeat (for a down node, what it last said).</param>
public sealed record ClusterNode(string Node, NodeState State, TimeSpan LastBeatAge, NodeHeartbeat Heartbeat);

/// <summary>The cluster as read from Redis by one node.</summary>
/// <param name="At">When it was read.</param>
/// <param name="Available">Whether Redis answered; false when it is not configured or not reachable.</param>
/// <param name="Unavailable">Why not, when not available.</param>
/// <param name="Self">The name of the node that read it.</param>
/// <param name="Nodes">Every node with a heartbeat not yet forgotten, by name.</param>
/// <param name="Warnings">Clashes between nodes: two nodes beating under one name, or two names giving one queue id tag.</param>
public sealed record ClusterView(DateTimeOffset At, bool Available, string? Unavailable, string Self, IReadOnlyList<ClusterNode> Nodes,
    IReadOnlyList<string> Warnings);

/// <summary>Source-generated JSON of heartbeats (in Redis) and the view (over the control socket); camelCase.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeHeartbeat))]
[JsonSerializable(typeof(ClusterView))]
public sealed partial class ClusterJsonContext : JsonSerializerContext;
