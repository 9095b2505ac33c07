// The qshape table: qshape's age buckets (under 5, 10, 20 ... 1280 minutes, then 1280+), domains ranked, the TOTAL row.
using Mta.Engine.Status;

namespace Mta.Engine.Tests.Status;

public sealed class QueueShapeBuilderTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, 0)]
    [InlineData(4 * 60 + 59, 0)]
    [InlineData(5 * 60, 1)]        // exactly 5 minutes is no longer "under 5"
    [InlineData(9 * 60 + 59, 1)]
    [InlineData(10 * 60, 2)]
    [InlineData(39 * 60, 3)]
    [InlineData(40 * 60, 4)]
    [InlineData(80 * 60, 5)]
    [InlineData(160 * 60, 6)]
    [InlineData(320 * 60, 7)]
    [InlineData(640 * 60, 8)]
    [InlineData(1279 * 60 + 59, 8)]
    [InlineData(1280 * 60, 9)]     // the open-ended 1280+ column
    [InlineData(30 * 24 * 3600, 9)]
    [InlineData(-120, 0)]          // a clock that went back: new, not lost
    public void A_message_falls_in_the_first_bucket_whose_limit_it_is_under(int ageSeconds, int bucket) =>
        Assert.Equal(bucket, QueueShapeBuilder.BucketOf(TimeSpan.FromSeconds(ageSeconds)));

    [Fact]
    public void The_columns_are_qshapes_defaults()
    {
        Assert.Equal([5, 10, 20, 40, 80, 160, 320, 640, 1280], QueueShapeBuilder.BucketMinutes);
        var shape = new QueueShapeBuilder(Now).Build(10);
        Assert.Equal(10, shape.Total.Buckets.Count);
        Assert.Equal(0, shape.Total.Total);
        Assert.Empty(shape.Domains);
        Assert.Equal(0, shape.DomainCount);
    }

    [Fact]
    public void Domains_are_counted_per_recipient_case_blind_and_ranked_by_total_then_name()
    {
        var builder = new QueueShapeBuilder(Now);
        builder.Add("remote.test", Now.AddMinutes(-1));
        builder.Add("Remote.TEST", Now.AddMinutes(-7));
        builder.Add("remote.test", Now.AddMinutes(-2000));
        builder.Add("b.test", Now.AddMinutes(-30));
        builder.Add("b.test", Now.AddMinutes(-30));
        builder.Add("a.test", Now.AddMinutes(-100));
        builder.Add("a.test", Now.AddMinutes(-100));
        builder.Add("c.test", Now);

        var shape = builder.Build(10);

        Assert.Equal(["remote.test", "a.test", "b.test", "c.test"], shape.Domains.Select(d => d.Domain));
        var remote = shape.Domains[0];
        Assert.Equal(3, remote.Total);
        Assert.Equal([1, 1, 0, 0, 0, 0, 0, 0, 0, 1], remote.Buckets);
        Assert.Equal([0, 0, 0, 0, 0, 2, 0, 0, 0, 0], shape.Domains[1].Buckets);
        Assert.Equal("TOTAL", shape.Total.Domain);
        Assert.Equal(8, shape.Total.Total);
        Assert.Equal([2, 1, 0, 2, 0, 2, 0, 0, 0, 1], shape.Total.Buckets);
        Assert.Equal(4, shape.DomainCount);
    }

    [Fact]
    public void Top_n_shows_the_busiest_domains_and_the_total_still_counts_them_all()
    {
        var builder = new QueueShapeBuilder(Now);
        for (var d = 0; d < 30; d++)
            for (var r = 0; r <= d; r++)
                builder.Add($"d{d:00}.test", Now.AddMinutes(-r));

        var shape = builder.Build(3);

        Assert.Equal(["d29.test", "d28.test", "d27.test"], shape.Domains.Select(d => d.Domain));
        Assert.Equal(30, shape.DomainCount);
        Assert.Equal(Enumerable.Range(1, 30).Sum(), shape.Total.Total);
        Assert.Equal(shape.Total.Total, shape.Total.Buckets.Sum());
        Assert.Empty(builder.Build(0).Domains);
    }
}
