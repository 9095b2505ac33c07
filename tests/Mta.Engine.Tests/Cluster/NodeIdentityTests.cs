// Node identity: the name from Node:Name or the host name, its validation, the queue id tag, and the Received comment.
using Mta.Engine.Cluster;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Cluster;

public sealed class NodeIdentityTests
{
    private static MtaOptions Options(string hostName = "mx1.example.org", string? node = null, string? tag = null)
    {
        var options = new MtaOptions { HostName = hostName, Listeners = [new ListenerOptions()] };
        options.Node.Name = node;
        options.Node.QueueIdTag = tag;
        return options;
    }

    [Fact]
    public void The_name_defaults_to_the_first_label_of_the_host_name()
    {
        var identity = new NodeIdentity(Options());
        Assert.Equal("mx1", identity.Name);
        Assert.Equal(QueueIds.FormatTag(QueueIds.TagForNodeName("mx1")), identity.QueueIdTag);
        Assert.False(identity.QueueIdTagConfigured);
        Assert.Empty(MtaOptionsValidator.Validate(Options()));
    }

    [Fact]
    public void Node_Name_and_Node_QueueIdTag_win()
    {
        var identity = new NodeIdentity(Options(node: "node7", tag: "n7"));
        Assert.Equal("node7", identity.Name);
        Assert.Equal("N7", identity.QueueIdTag);
        Assert.True(identity.QueueIdTagConfigured);
        // Each process is its own instance, even of one node.
        Assert.NotEqual(identity.Instance, new NodeIdentity(Options(node: "node7")).Instance);
    }

    [Theory]
    [InlineData("node.one", null, "Node:Name")]
    [InlineData("-node", null, "Node:Name")]
    [InlineData("node_1", null, "Node:Name")]
    [InlineData("node1", "I0", "Node:QueueIdTag")]
    [InlineData("node1", "ABC", "Node:QueueIdTag")]
    public void A_bad_name_or_tag_is_an_error_naming_its_key(string node, string? tag, string key)
    {
        var errors = MtaOptionsValidator.Validate(Options(node: node, tag: tag));
        Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Heartbeat_timing_is_validated()
    {
        var options = Options();
        options.Node.HeartbeatInterval = TimeSpan.FromMilliseconds(10);
        options.Node.ForgetAfter = TimeSpan.FromSeconds(1);
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Contains(errors, e => e.StartsWith("Node:HeartbeatInterval:", StringComparison.Ordinal));
        options.Node.HeartbeatInterval = TimeSpan.FromSeconds(5);
        Assert.Contains(MtaOptionsValidator.Validate(options), e => e.StartsWith("Node:ForgetAfter:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("mx.example.org", null, "Mta")]
    [InlineData("node1.example.org", "node1", "Mta")]
    [InlineData("mx.example.org", "node1", "Mta node node1")]
    public void Received_names_the_node_when_the_host_name_does_not(string hostName, string? node, string comment) =>
        Assert.Equal(comment, ReceivedHeader.ProductComment(hostName, node));
}
