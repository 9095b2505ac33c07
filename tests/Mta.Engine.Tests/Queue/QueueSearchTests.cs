// Search: pages of the queue oldest first, by text (id, sender, recipient, domain) and by recipient state, with the total on every page.
using Mta.Abstractions;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Queue;

public sealed class QueueSearchTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] Body = SpoolTestData.Message("search me");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pages_in_arrival_order_with_the_total_on_every_page()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            ids.Add((await q.SubmitAsync(Body, $"user{i}@remote.test")).QueueId);
            q.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var seen = new List<string>();
        for (var offset = 0; offset < 30; offset += 10)
        {
            var page = q.Administration.Search(new QueueQuery(), offset, 10);
            Assert.Equal(25, page.Total);
            seen.AddRange(page.Entries.Select(e => e.QueueId));
        }
        Assert.Equal(ids, seen);
        // The same order as List, which sorts by arrival.
        Assert.Equal(q.Administration.List().Select(e => e.QueueId), seen);
        Assert.Empty(q.Administration.Search(new QueueQuery(), 25, 10).Entries);
        Assert.Equal(25, q.Administration.Search(new QueueQuery(), 100, 10).Total);
    }

    [Fact]
    public async Task Text_matches_id_sender_recipient_and_domain_case_insensitively()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var a = (await q.SubmitFromAsync(new SmtpAddress("Boss", "Corp.example"), Body, "far@remote.test")).QueueId;
        var b = (await q.SubmitAsync(Body, "Carol@Other.Test", "dave@remote.test")).QueueId;
        var c = (await q.SubmitAsync(Body, "erin@third.test")).QueueId;

        string[] Find(string text) => [.. q.Administration.Search(new QueueQuery(text), 0, 100).Entries.Select(e => e.QueueId)];

        Assert.Equal([a], Find("boss@corp"));
        Assert.Equal([b], Find("CAROL"));
        Assert.Equal([b], Find("other.test"));
        Assert.Equal([a, b], Find("REMOTE.TEST"));
        Assert.Equal([c], Find(c.ToLowerInvariant()));
        Assert.Equal([c], Find(string.Concat(c.Select((ch, i) => i % 2 == 0 ? char.ToLowerInvariant(ch) : ch))));
        Assert.Empty(Find("nobody"));
        Assert.Equal(3, q.Administration.Search(new QueueQuery(""), 0, 100).Total);
        Assert.Equal(1, q.Administration.Search(new QueueQuery("other.test"), 0, 100).Total);
    }

    [Fact]
    public async Task State_matches_messages_with_a_recipient_in_it()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var deferred = (await q.SubmitAsync(Body, "far@remote.test")).QueueId;
        var held = (await q.SubmitAsync(Body, "near@remote.test")).QueueId;
        await q.Administration.HoldAsync(held, Ct);
        // Delivered at once: its message leaves the queue and no search finds it.
        await q.SubmitAsync(Body, "alice@example.org");

        Assert.Equal([deferred], q.Administration.Search(new QueueQuery(State: QueueRecipientState.Deferred), 0, 10).Entries.Select(e => e.QueueId));
        Assert.Equal([held], q.Administration.Search(new QueueQuery(State: QueueRecipientState.Held), 0, 10).Entries.Select(e => e.QueueId));
        Assert.Equal(0, q.Administration.Search(new QueueQuery(State: QueueRecipientState.Delivered), 0, 10).Total);
        Assert.Equal(0, q.Administration.Search(new QueueQuery("near", QueueRecipientState.Deferred), 0, 10).Total);
        Assert.Equal(2, q.Administration.Search(new QueueQuery(), 0, 10).Total);
    }

    [Fact]
    public void Address_text_matches_as_the_written_address_does_without_building_it()
    {
        SmtpAddress[] addresses =
        [
            new("Bob.Smith", "Remote.Test"), new("bob", ""), new("", ""), new("john doe", "x.test"), new("a@b", "c.test"),
            new("postmaster", "[192.0.2.1]"), new("ü", "bücher.example"),
        ];
        string[] texts =
        [
            "bob", "BOB.s", "smith@", "@remote", "h@r", "TH@REMOTE.TEST", "bob.smith@remote.test", "test", "@", "x@y",
            "doe\"@x", "\"john", "a@b", "b\"@c", "@[192", "r@[", "ü@b", "Ü@BÜ", "remote.test.", "smith@remote.testx",
        ];
        foreach (var address in addresses)
            foreach (var text in texts)
                Assert.True(address.ToString().Contains(text, StringComparison.OrdinalIgnoreCase) == QueueAdministration.AddressContains(address, text),
                    $"<{address}> / {text}");
    }

    [Fact]
    public async Task Negative_paging_arguments_are_refused_a_zero_limit_counts_and_a_large_one_is_capped()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        for (var i = 0; i < 3; i++) await q.SubmitAsync(Body, $"u{i}@remote.test");
        Assert.Throws<ArgumentOutOfRangeException>(() => q.Administration.Search(new QueueQuery(), -1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => q.Administration.Search(new QueueQuery(), 0, -1));
        var counted = q.Administration.Search(new QueueQuery(), 0, 0);
        Assert.Equal((3, 0), (counted.Total, counted.Entries.Count));
        Assert.Equal(3, q.Administration.Search(new QueueQuery(), 0, int.MaxValue).Entries.Count);
    }

    [Fact]
    public async Task Recovered_messages_keep_their_order_and_new_ones_follow()
    {
        var ids = new List<string>();
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            for (var i = 0; i < 5; i++) ids.Add((await q.SubmitAsync(Body, $"u{i}@remote.test")).QueueId);
        }
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            await q.IdleAsync();
            ids.Add((await q.SubmitAsync(Body, "late@remote.test")).QueueId);
            Assert.Equal(ids, q.Administration.Search(new QueueQuery(), 0, 100).Entries.Select(e => e.QueueId));
        }
    }
}

public sealed class ArrivalOrderTests
{
    private static QueuedMessage Message(SegmentSpoolHolder holder, string recipient) =>
        new(new Mta.Engine.Spool.SpooledMessage(SpoolTestData.Envelope(null, recipient), default, new HashSet<int>()), holder.Spool);

    [Fact]
    public void A_walk_goes_on_past_messages_removed_under_it_and_never_repeats_one()
    {
        using var holder = new SegmentSpoolHolder();
        var order = new ArrivalOrder();
        var messages = Enumerable.Range(0, 6).Select(i => Message(holder, $"u{i}@x.test")).ToArray();
        foreach (var m in messages) order.Add(m);
        order.Add(messages[0]);
        Assert.Equal(6, order.Count);

        var seen = new List<QueuedMessage>();
        foreach (var m in order.Walk())
        {
            seen.Add(m);
            // Standing on the second: it and the next two go; the walk carries on to the fifth.
            if (ReferenceEquals(m, messages[1]))
            {
                order.Remove(messages[1]);
                order.Remove(messages[2]);
                order.Remove(messages[3]);
            }
        }
        Assert.Equal([messages[0], messages[1], messages[4], messages[5]], seen);
        Assert.Equal(3, order.Count);

        order.Remove(messages[5]);
        var late = Message(holder, "late@x.test");
        order.Add(late);
        // A message once removed is not added back.
        order.Add(messages[5]);
        Assert.Equal([messages[0], messages[4], late], order.Walk());
        order.Remove(messages[0]);
        order.Remove(messages[0]);
        Assert.Equal([messages[4], late], order.Walk());
    }

    internal sealed class SegmentSpoolHolder : IDisposable
    {
        private readonly TestDirectory _dir = new();

        public SegmentSpoolHolder() => Spool = SpoolTestData.OpenSpool(SpoolTestData.Options(_dir.Path));

        public Mta.Engine.Spool.SegmentSpool Spool { get; }

        public void Dispose()
        {
            Spool.Dispose();
            _dir.Dispose();
        }
    }
}
