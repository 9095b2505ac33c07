// Queue ids: short, unique, file-name safe, and carrying the node's tag so two nodes never make the same one.
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Spool;

public sealed class QueueIdsTests
{
    [Fact]
    public void Ids_are_unique_and_use_a_file_name_safe_alphabet()
    {
        var ids = Enumerable.Range(0, 100_000).Select(_ => QueueIds.Next()).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id =>
        {
            Assert.Equal(QueueIds.Length, id.Length);
            Assert.Matches("^[0-9A-HJKMNP-TV-Z]+$", id);
        });
    }

    [Fact]
    public void Every_id_carries_the_node_tag_after_its_time()
    {
        var before = QueueIds.NodeTag;
        try
        {
            QueueIds.UseNodeTag(QueueIds.TagForNodeName("node1"));
            var node1 = QueueIds.Next();
            QueueIds.UseNodeTag(QueueIds.TagForNodeName("node2"));
            var node2 = QueueIds.Next();
            Assert.Equal(QueueIds.FormatTag(QueueIds.TagForNodeName("node1")), QueueIds.NodeTagOf(node1));
            Assert.Equal(QueueIds.FormatTag(QueueIds.TagForNodeName("node2")), QueueIds.NodeTagOf(node2));
            Assert.NotEqual(QueueIds.NodeTagOf(node1), QueueIds.NodeTagOf(node2));
            // Time first: ids still sort by when they were made.
            Assert.True(string.CompareOrdinal(node1[..10], node2[..10]) <= 0);
        }
        finally
        {
            QueueIds.UseNodeTag(before);
        }
    }

    [Theory]
    [InlineData("node1")]
    [InlineData("mx-a")]
    [InlineData("NODE1")]
    public void A_name_always_gives_the_same_tag_whatever_its_case(string name)
    {
        Assert.Equal(QueueIds.TagForNodeName(name.ToLowerInvariant()), QueueIds.TagForNodeName(name));
        Assert.InRange(QueueIds.TagForNodeName(name), 0, 1023);
    }

    [Theory]
    [InlineData("00", 0)]
    [InlineData("ZZ", 1023)]
    [InlineData("a1", (10 << 5) | 1)]
    public void A_configured_tag_reads_as_two_characters_of_the_alphabet(string text, int expected)
    {
        Assert.True(QueueIds.TryParseTag(text, out var tag));
        Assert.Equal(expected, tag);
        Assert.Equal(text.ToUpperInvariant(), QueueIds.FormatTag(tag));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("A")]
    [InlineData("ABC")]
    [InlineData("IL")]
    [InlineData("U0")]
    public void Anything_else_is_not_a_tag(string? text) => Assert.False(QueueIds.TryParseTag(text, out _));
}
