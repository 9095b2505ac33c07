// How the cluster view classes a node from its last heartbeat: up, down after three missed beats, stopped when it said so.
using Mta.Engine.Cluster;
using Mta.Engine.Status;

namespace Mta.Engine.Tests.Cluster;

public sealed class ClusterStoreTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    private static NodeHeartbeat Beat(TimeSpan age, bool stopped = false, string node = "node1", string tag = "GJ") => new(node, "mx.test", "1.0", "abc", tag, Now.AddHours(-1),
        Now - age, TimeSpan.FromSeconds(5), stopped, [], new NodeHealth(true, true, true, null),
        new QueueStatus(0, 0, 0, 0, 0, 0, null), 0, 0);

    [Theory]
    [InlineData(0, false, NodeState.Up)]
    [InlineData(14, false, NodeState.Up)]
    [InlineData(16, false, NodeState.Down)]
    [InlineData(600, false, NodeState.Down)]
    [InlineData(1, true, NodeState.Stopped)]
    public void A_node_is_down_after_three_missed_beats_of_its_own_interval(int seconds, bool stopped, NodeState expected)
    {
        var node = ClusterStore.Classify(Beat(TimeSpan.FromSeconds(seconds), stopped), Now);
        Assert.Equal(expected, node.State);
        Assert.Equal(TimeSpan.FromSeconds(seconds), node.LastBeatAge);
    }

    [Fact]
    public void A_beat_from_a_clock_ahead_is_not_negative_in_age() =>
        Assert.Equal(TimeSpan.Zero, ClusterStore.Classify(Beat(TimeSpan.FromSeconds(-3)), Now).LastBeatAge);

    [Fact]
    public void Two_live_nodes_whose_ids_carry_one_tag_are_a_warning_that_names_both()
    {
        var nodes = new List<ClusterNode>
        {
            ClusterStore.Classify(Beat(TimeSpan.Zero, node: "alpha", tag: "Q7"), Now),
            ClusterStore.Classify(Beat(TimeSpan.Zero, node: "beta", tag: "Q7"), Now),
            ClusterStore.Classify(Beat(TimeSpan.Zero, node: "gamma", tag: "K2"), Now),
        };
        var warning = Assert.Single(ClusterStore.Clashes(nodes));
        Assert.Equal("nodes alpha, beta share queue id tag Q7: set Node:QueueIdTag on all but one", warning);
        // A node that is gone makes no more ids: no clash with it.
        nodes[1] = ClusterStore.Classify(Beat(TimeSpan.FromMinutes(5), node: "beta", tag: "Q7"), Now);
        Assert.Empty(ClusterStore.Clashes(nodes));
    }
}
