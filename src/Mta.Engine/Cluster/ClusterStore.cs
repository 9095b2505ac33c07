// The cluster's heartbeats in Redis: one expiring key per node, and a sorted set of names by last beat to find them.
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Mta.Engine.Redis;
using StackExchange.Redis;

namespace Mta.Engine.Cluster;

/// <summary>
/// Writes this node's heartbeat and reads everyone's. A heartbeat is a JSON string at <c>PREFIX cluster:node:NAME</c>
/// that expires after <c>Node:ForgetAfter</c>, so a node that stops beating shows as down for that long and then goes;
/// <c>PREFIX cluster:nodes</c> (a sorted set, score = last beat in Unix ms) lists the names so a reader never scans.
/// Nothing here waits longer than Redis's operation timeout, and nothing throws for Redis being away.
/// </summary>
public sealed partial class ClusterStore(RedisConnection redis, NodeIdentity self, TimeProvider time, ILogger<ClusterStore> logger)
{
    // Three missed beats: one late beat (a GC pause, a slow Redis) does not flap a node to down.
    private const int MissedBeatsForDown = 3;

    private RedisKey NodesKey => redis.KeyPrefix + "cluster:nodes";

    private RedisKey NodeKey(string name) => redis.KeyPrefix + "cluster:node:" + name;

    /// <summary>Whether this node has Redis to publish to (<c>State:Provider</c> is <c>Redis</c>).</summary>
    public bool IsConfigured => redis.IsConfigured;

    /// <summary>Waits, at most <c>State:Redis:ConnectTimeout</c>, for the first connection attempt, so the first beat
    /// after start does not report an outage that is only a connection still being made.</summary>
    public async Task WaitForFirstConnectionAsync(CancellationToken cancellationToken)
    {
        try { await redis.WaitForFirstAttemptAsync(cancellationToken).ConfigureAwait(false); }
        catch (RedisException) { }
    }

    /// <summary>Writes <paramref name="beat"/>; returns why not when Redis is not connected or does not answer in time.</summary>
    public async Task<string?> PublishAsync(NodeHeartbeat beat, CancellationToken cancellationToken)
    {
        if (!redis.TryGetDatabase(out var db)) return "Redis is not connected";
        var json = JsonSerializer.Serialize(beat, ClusterJsonContext.Default.NodeHeartbeat);
        try
        {
            var batch = db.CreateBatch();
            var set = batch.StringSetAsync(NodeKey(beat.Node), json, self.ForgetAfter);
            var add = batch.SortedSetAddAsync(NodesKey, beat.Node, beat.At.ToUnixTimeMilliseconds());
            batch.Execute();
            await Task.WhenAll(set, add).WaitAsync(Budget, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return ex.Message;
        }
    }

    /// <summary>Every node not yet forgotten, up, down or stopped; <see cref="ClusterView.Available"/> false (with the
    /// reason) when Redis is not configured, not connected or too slow.</summary>
    public async Task<ClusterView> ReadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!redis.IsConfigured) return Unavailable(now, "State:Provider is not Redis; this node shares nothing with others");
        if (!redis.TryGetDatabase(out var db)) return Unavailable(now, "Redis is not connected");
        try
        {
            var names = await db.SortedSetRangeByRankAsync(NodesKey).WaitAsync(Budget, cancellationToken).ConfigureAwait(false);
            if (names.Length == 0) return new ClusterView(now, true, null, self.Name, [], []);
            var keys = names.Select(n => NodeKey(n.ToString())).ToArray();
            var values = await db.StringGetAsync(keys).WaitAsync(Budget, cancellationToken).ConfigureAwait(false);
            var nodes = new List<ClusterNode>(names.Length);
            var forgotten = new List<RedisValue>();
            for (var i = 0; i < names.Length; i++)
            {
                // The key expired (Node:ForgetAfter): the name goes from the set too, here rather than by a sweeper.
                if (values[i].IsNullOrEmpty) { forgotten.Add(names[i]); continue; }
                if (Parse(values[i]!) is { } beat) nodes.Add(Classify(beat, now));
            }
            if (forgotten.Count > 0) _ = db.SortedSetRemoveAsync(NodesKey, forgotten.ToArray(), CommandFlags.FireAndForget);
            nodes.Sort((a, b) => string.CompareOrdinal(a.Node, b.Node));
            return new ClusterView(now, true, null, self.Name, nodes, Clashes(nodes));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogReadFailed(ex.Message);
            return Unavailable(now, ex.Message);
        }
    }

    /// <summary>Up while its last beat is younger than three of its own intervals; stopped when it said so.</summary>
    internal static ClusterNode Classify(NodeHeartbeat beat, DateTimeOffset now)
    {
        var age = now - beat.At;
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        var state = beat.Stopped ? NodeState.Stopped : age > MissedBeatsForDown * beat.Interval ? NodeState.Down : NodeState.Up;
        return new ClusterNode(beat.Node, state, age, beat);
    }

    // Two live nodes whose ids carry one tag could, in one millisecond, make the same queue id; say which to change.
    internal static List<string> Clashes(List<ClusterNode> nodes)
    {
        var warnings = new List<string>();
        foreach (var group in nodes.Where(n => n.State == NodeState.Up).GroupBy(n => n.Heartbeat.QueueIdTag).Where(g => g.Count() > 1))
            warnings.Add($"nodes {string.Join(", ", group.Select(n => n.Node))} share queue id tag {group.Key}: set Node:QueueIdTag on all but one");
        return warnings;
    }

    private ClusterView Unavailable(DateTimeOffset now, string why) => new(now, false, why, self.Name, [], []);

    private static NodeHeartbeat? Parse(string json)
    {
        try { return JsonSerializer.Deserialize(json, ClusterJsonContext.Default.NodeHeartbeat); }
        catch (JsonException) { return null; }
    }

    // Redis's own operation timeout bounds each call; this bounds the whole, should the multiplexer queue it.
    private TimeSpan Budget => redis.OperationTimeout * 4 + TimeSpan.FromMilliseconds(250);

    [LoggerMessage(EventId = LogEvents.Cluster.ClusterReadFailed, Level = LogLevel.Debug, Message = "cluster: the view could not be read from Redis: {Reason}")]
    private partial void LogReadFailed(string reason);
}
