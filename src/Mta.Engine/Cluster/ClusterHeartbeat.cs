// Publishes this node's heartbeat to Redis every Node:HeartbeatInterval, and warns when another node clashes with it.
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Status;

namespace Mta.Engine.Cluster;

/// <summary>
/// Every interval: reads the cluster (to see clashes), then writes this node's name, version, listeners, health and queue
/// summary. A Redis outage costs a warning when it starts and a line when it ends, never a stalled session: the beat
/// runs on its own timer and every call is bounded. On a clean stop the last beat says "stopped".
/// </summary>
internal sealed partial class ClusterHeartbeat(
    ClusterStore store, NodeIdentity self, IServerStatus status, SpoolWritableProbe spool, TimeProvider time, ILogger<ClusterHeartbeat> logger)
    : BackgroundService
{
    private bool _failing;
    private DateTimeOffset? _lastBeat;
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogIdentity(self.Name, self.QueueIdTag, self.QueueIdTagConfigured ? "Node:QueueIdTag" : "the node name",
            store.IsConfigured ? $"every {self.HeartbeatInterval.TotalSeconds:0.###} s to Redis" : "nowhere (State:Provider is not Redis)");
        if (!store.IsConfigured) return;
        try
        {
            await store.WaitForFirstConnectionAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        using var timer = new PeriodicTimer(self.HeartbeatInterval, time);
        do
        {
            try
            {
                await BeatAsync(stopped: false, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!store.IsConfigured) return;
        // The last word: "stopped", so the view tells a clean shutdown from a crash. Bounded; Redis may be gone too.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(1));
        try { await BeatAsync(stopped: true, bounded.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    private async Task BeatAsync(bool stopped, CancellationToken cancellationToken)
    {
        if (!stopped) WarnOfClashes(await store.ReadAsync(cancellationToken).ConfigureAwait(false));
        var beat = await TakeAsync(stopped, cancellationToken).ConfigureAwait(false);
        var failure = await store.PublishAsync(beat, cancellationToken).ConfigureAwait(false);
        if (failure is not null)
        {
            if (!_failing) LogHeartbeatFailed(self.Name, failure);
            _failing = true;
            return;
        }
        if (_failing) LogHeartbeatResumed(self.Name);
        _failing = false;
        _lastBeat = beat.At;
    }

    private async Task<NodeHeartbeat> TakeAsync(bool stopped, CancellationToken cancellationToken)
    {
        var snapshot = status.Snapshot(0);
        var listenersBound = snapshot.Listeners.All(l => l.EndPoint is not null);
        var (spoolWritable, spoolDescription) = await spool.ProbeAsync(cancellationToken).ConfigureAwait(false);
        var problems = new List<string>(2);
        if (!listenersBound)
            problems.Add($"{snapshot.Listeners.Count(l => l.EndPoint is not null)} of {snapshot.Listeners.Count} listener(s) bound");
        if (!spoolWritable) problems.Add(spoolDescription);
        var health = new NodeHealth(problems.Count == 0, listenersBound, spoolWritable, problems.Count == 0 ? null : string.Join("; ", problems));
        return new NodeHeartbeat(self.Name, self.HostName, snapshot.Version, self.Instance, self.QueueIdTag, snapshot.StartedAt,
            time.GetUtcNow(), self.HeartbeatInterval, stopped, snapshot.Listeners, health, snapshot.Queue, snapshot.ConnectionsOpen,
            snapshot.LastMinute.Accepted);
    }

    // Once per peer and kind: the clash lasts until an operator renames a node, and one line says it.
    private void WarnOfClashes(ClusterView view)
    {
        if (!view.Available) return;
        foreach (var node in view.Nodes)
        {
            if (node.State != NodeState.Up) continue;
            var beat = node.Heartbeat;
            // Another process wrote under our name after our own last beat: two nodes were given one name.
            if (node.Node == self.Name && beat.Instance != self.Instance && _lastBeat is { } last && beat.At > last
                && _warned.Add("name:" + beat.Instance))
                LogNameClash(self.Name, beat.HostName, beat.StartedAt);
            if (node.Node != self.Name && beat.QueueIdTag == self.QueueIdTag && _warned.Add("tag:" + node.Node))
                LogTagClash(self.Name, node.Node, self.QueueIdTag);
        }
    }

    [LoggerMessage(EventId = LogEvents.Cluster.NodeIdentity, Level = LogLevel.Information,
        Message = "cluster: this is node {Node}; its queue ids carry tag {QueueIdTag} (from {TagSource}); heartbeat {Heartbeat}")]
    private partial void LogIdentity(string node, string queueIdTag, string tagSource, string heartbeat);

    [LoggerMessage(EventId = LogEvents.Cluster.HeartbeatFailed, Level = LogLevel.Warning,
        Message = "cluster: node {Node} cannot publish its heartbeat: {Reason}; other nodes will show it as down until Redis answers (mail flows on)")]
    private partial void LogHeartbeatFailed(string node, string reason);

    [LoggerMessage(EventId = LogEvents.Cluster.HeartbeatResumed, Level = LogLevel.Information,
        Message = "cluster: node {Node} publishes its heartbeat again")]
    private partial void LogHeartbeatResumed(string node);

    [LoggerMessage(EventId = LogEvents.Cluster.NodeNameClash, Level = LogLevel.Error,
        Message = "cluster: another process beats as node {Node} (host {OtherHost}, started {OtherStartedAt:u}); give every node its own Node:Name")]
    private partial void LogNameClash(string node, string otherHost, DateTimeOffset otherStartedAt);

    [LoggerMessage(EventId = LogEvents.Cluster.QueueIdTagClash, Level = LogLevel.Warning,
        Message = "cluster: nodes {Node} and {OtherNode} both tag their queue ids {QueueIdTag}; ids could repeat across them: set Node:QueueIdTag on one")]
    private partial void LogTagClash(string node, string otherNode, string queueIdTag);
}
