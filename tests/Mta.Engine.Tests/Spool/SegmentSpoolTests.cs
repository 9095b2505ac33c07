// Commit, group commit, recovery, torn records, done journal and segment life cycle of the segment spool.
using System.Buffers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;
using static Mta.Engine.Tests.Spool.SpoolTestData;

namespace Mta.Engine.Tests.Spool;

public sealed class SegmentSpoolTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private string QueueDir(MtaOptions o) => new MtaPaths(o).QueueDirectory;

    private static string[] Segments(string queueDir) =>
        Directory.GetFiles(queueDir, "*.seg").Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public async Task Commit_then_recover_returns_envelopes_and_bytes()
    {
        var options = Options(_dir.Path);
        var envelopes = new[] { Envelope(null, "alice@example.org", "bob@Example.ORG"), Envelope(null, "<postmaster>"), Envelope() };
        var messages = new[] { Message("one"), Message("two", 5000), Message("three", 0) };
        using (var spool = OpenSpool(options))
        {
            Assert.Empty(await spool.RecoverAsync(Ct));
            for (var i = 0; i < 3; i++) await spool.CommitAsync(envelopes[i], Seq(messages[i]), Ct);
        }

        using var again = OpenSpool(options);
        var recovered = await again.RecoverAsync(Ct);
        Assert.Equal(3, recovered.Count);
        for (var i = 0; i < 3; i++)
        {
            var e = recovered[i].Envelope;
            Assert.Equal(envelopes[i].QueueId, e.QueueId);
            Assert.Equal(envelopes[i].Kind, e.Kind);
            Assert.Equal(envelopes[i].ReceivedAt, e.ReceivedAt);
            Assert.Equal(envelopes[i].ReversePath, e.ReversePath);
            Assert.Equal(envelopes[i].Recipients, e.Recipients);
            Assert.Equal(envelopes[i].MailParameters.OrderBy(kv => kv.Key), e.MailParameters.OrderBy(kv => kv.Key));
            Assert.Equal(envelopes[i].ClientAddress, e.ClientAddress);
            Assert.Equal(envelopes[i].HeloName, e.HeloName);
            Assert.Null(e.AuthenticatedUser);
            Assert.Empty(recovered[i].FinalRecipients);
            Assert.Equal(messages[i].Length, recovered[i].Location.MessageLength);
            Assert.Equal(messages[i], ReadAll(again.OpenMessage(recovered[i].Location)));
        }
    }

    [Fact]
    public async Task Commits_are_announced_on_the_channel_in_order_and_never_wait_for_its_reader()
    {
        var options = Options(_dir.Path);
        using var spool = OpenSpool(options);
        await spool.RecoverAsync(Ct);
        // Nobody reads the channel: every commit must still be acknowledged (the queue's pace never holds a session's 250).
        var envelopes = Enumerable.Range(0, 200).Select(_ => Envelope()).ToArray();
        await Task.WhenAll(envelopes.Select(e => spool.CommitAsync(e, Seq(Message("c")), Ct).AsTask()));
        Assert.Equal(envelopes.Length, spool.Committed.Count);
        var announced = new List<SpooledMessage>();
        while (spool.Committed.TryRead(out var message)) announced.Add(message);
        Assert.Equal(envelopes.Select(e => e.QueueId).Order(StringComparer.Ordinal), announced.Select(m => m.Envelope.QueueId).Order(StringComparer.Ordinal));
        // In the order of the segment: each announced record starts after the one before it.
        Assert.True(announced.Zip(announced.Skip(1)).All(p => (p.First.Location.Segment, p.First.Location.Offset).CompareTo((p.Second.Location.Segment, p.Second.Location.Offset)) < 0));
        Assert.All(announced, m => Assert.Empty(m.FinalRecipients));
    }

    [Fact]
    public async Task Message_split_over_several_segments_of_a_sequence_is_stored_whole()
    {
        var options = Options(_dir.Path);
        var first = new Segment(Message("split")[..10]);
        var last = first.Append(Message("split")[10..]);
        using var spool = OpenSpool(options);
        var seen = new CommitFeed();
        seen.Attach(spool);
        await spool.CommitAsync(Envelope(), new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), Ct);
        Assert.Equal(Message("split"), ReadAll(spool.OpenMessage(Assert.Single(seen).Location)));
    }

    [Fact]
    public async Task Torn_tail_record_is_discarded_and_truncated_earlier_records_survive()
    {
        var options = Options(_dir.Path);
        using (var spool = OpenSpool(options))
            for (var i = 0; i < 3; i++) await spool.CommitAsync(Envelope(), Seq(Message("m" + i, 2000)), Ct);
        var segment = Path.Combine(QueueDir(options), Assert.Single(Segments(QueueDir(options))));
        var fullLength = new FileInfo(segment).Length;
        using (var f = new FileStream(segment, FileMode.Open)) f.SetLength(fullLength - 1500); // cut the third record mid-message

        using var again = OpenSpool(options);
        var recovered = await again.RecoverAsync(Ct);
        Assert.Equal(2, recovered.Count);
        Assert.Equal(Message("m1", 2000), ReadAll(again.OpenMessage(recovered[1].Location)));
        var end = recovered[1].Location.Offset + recovered[1].Location.Length;
        Assert.Equal(end, new FileInfo(segment).Length);

        // New mail goes to a new segment after a restart.
        await again.CommitAsync(Envelope(), Seq(Message("new")), Ct);
        Assert.Equal(2, Segments(QueueDir(options)).Length);
    }

    [Fact]
    public async Task Corrupted_byte_fails_the_checksum_and_ends_the_segment_there()
    {
        var options = Options(_dir.Path);
        var seen = new CommitFeed();
        using (var spool = OpenSpool(options))
        {
            seen.Attach(spool);
            for (var i = 0; i < 3; i++) await spool.CommitAsync(Envelope(), Seq(Message("m" + i)), Ct);
        }
        var segment = Path.Combine(QueueDir(options), Assert.Single(Segments(QueueDir(options))));
        using (var f = new FileStream(segment, FileMode.Open))
        {
            f.Position = seen[1].Location.MessageOffset + 20;
            var b = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(b ^ 0x01));
        }

        using var again = OpenSpool(options);
        var recovered = await again.RecoverAsync(Ct);
        Assert.Equal(seen[0].Envelope.QueueId, Assert.Single(recovered).Envelope.QueueId);
    }

    [Fact]
    public async Task Segment_with_a_torn_header_is_removed()
    {
        var options = Options(_dir.Path);
        Directory.CreateDirectory(QueueDir(options));
        File.WriteAllBytes(Path.Combine(QueueDir(options), "000000000007.seg"), "MTASP"u8.ToArray());
        using var spool = OpenSpool(options);
        Assert.Empty(await spool.RecoverAsync(Ct));
        Assert.Empty(Segments(QueueDir(options)));
        await spool.CommitAsync(Envelope(), Seq(Message("after")), Ct);
        Assert.Equal(["000000000008.seg"], Segments(QueueDir(options)));
    }

    [Fact]
    public async Task Concurrent_commits_share_fsyncs()
    {
        var options = Options(_dir.Path);
        using var spool = OpenSpool(options);
        await spool.RecoverAsync(Ct);
        const int count = 200;
        var tasks = Enumerable.Range(0, count)
            .Select(i => Task.Run(async () => await spool.CommitAsync(Envelope(), Seq(Message("c" + i)), Ct), Ct))
            .ToArray();
        await Task.WhenAll(tasks);
        var stats = spool.Statistics;
        Assert.Equal(count, stats.Commits);
        Assert.True(stats.Batches < count / 2, $"expected group commits, got {stats.Batches} batches for {count} commits");
    }

    [Fact]
    public async Task Segments_roll_over_at_the_configured_size_and_all_records_recover_in_order()
    {
        var options = Options(_dir.Path, segmentSize: 4096);
        var ids = new List<string>();
        using (var spool = OpenSpool(options))
        {
            for (var i = 0; i < 10; i++)
            {
                var envelope = Envelope();
                ids.Add(envelope.QueueId);
                await spool.CommitAsync(envelope, Seq(Message("r" + i, 1024)), Ct);
            }
            Assert.True(spool.Statistics.SegmentsCreated >= 3);
        }
        Assert.True(Segments(QueueDir(options)).Length >= 3);
        foreach (var s in Segments(QueueDir(options)))
            Assert.True(new FileInfo(Path.Combine(QueueDir(options), s)).Length <= 4096 + 1600);

        using var again = OpenSpool(options);
        var recovered = await again.RecoverAsync(Ct);
        Assert.Equal(ids, recovered.Select(r => r.Envelope.QueueId));
    }

    [Fact]
    public async Task Done_journal_prevents_redelivery_after_restart()
    {
        var options = Options(_dir.Path);
        var seen = new CommitFeed();
        using (var spool = OpenSpool(options))
        {
            seen.Attach(spool);
            await spool.CommitAsync(Envelope(null, "a@example.org", "b@example.org"), Seq(Message("1")), Ct);
            await spool.CommitAsync(Envelope(null, "c@example.org", "d@example.org"), Seq(Message("2")), Ct);
            await spool.MarkFinalAsync(seen[0].Location, 0, RecipientOutcome.Delivered, Ct);
            await spool.MarkFinalAsync(seen[1].Location, 0, RecipientOutcome.Delivered, Ct);
            await spool.MarkFinalAsync(seen[1].Location, 1, RecipientOutcome.Failed, Ct);
        }

        using var again = OpenSpool(options);
        var recovered = Assert.Single(await again.RecoverAsync(Ct));
        Assert.Equal(seen[0].Envelope.QueueId, recovered.Envelope.QueueId);
        Assert.Equal([0], recovered.FinalRecipients.Order());
    }

    [Fact]
    public async Task Torn_journal_entry_is_ignored()
    {
        var options = Options(_dir.Path);
        var seen = new CommitFeed();
        using (var spool = OpenSpool(options))
        {
            seen.Attach(spool);
            await spool.CommitAsync(Envelope(null, "a@example.org", "b@example.org"), Seq(Message("1")), Ct);
            await spool.MarkFinalAsync(seen[0].Location, 0, RecipientOutcome.Delivered, Ct);
        }
        var journal = Directory.GetFiles(QueueDir(options), "*.done").Single();
        File.AppendAllText(journal, "garbage-partial"); // 15 bytes: less than one entry

        using var again = OpenSpool(options);
        Assert.Equal([0], Assert.Single(await again.RecoverAsync(Ct)).FinalRecipients);
    }

    [Fact]
    public async Task Sealed_segment_is_deleted_when_every_recipient_is_final_but_the_active_one_is_kept()
    {
        var options = Options(_dir.Path, segmentSize: 4096);
        var seen = new CommitFeed();
        using var spool = OpenSpool(options);
        seen.Attach(spool);
        await spool.CommitAsync(Envelope(null, "a@example.org", "b@example.org"), Seq(Message("first", 3000)), Ct);
        await spool.CommitAsync(Envelope(), Seq(Message("second", 3000)), Ct); // does not fit: rolls to segment 2
        Assert.NotEqual(seen[0].Location.Segment, seen[1].Location.Segment);
        Assert.Equal(2, Segments(spool.Directory).Length);

        await spool.MarkFinalAsync(seen[0].Location, 0, RecipientOutcome.Delivered, Ct);
        Assert.Equal(2, Segments(spool.Directory).Length); // one recipient still pending
        await spool.MarkFinalAsync(seen[0].Location, 1, RecipientOutcome.Failed, Ct);
        Assert.Equal([SpoolFormat.SegmentFileName(seen[1].Location.Segment)], Segments(spool.Directory));
        Assert.Empty(Directory.GetFiles(spool.Directory, SpoolFormat.JournalFileName(seen[0].Location.Segment)));

        await spool.MarkFinalAsync(seen[1].Location, 0, RecipientOutcome.Delivered, Ct);
        Assert.Single(Segments(spool.Directory)); // the active segment stays
        Assert.Equal(1, spool.Statistics.SegmentsDeleted);
    }

    [Fact]
    public async Task Fully_delivered_segments_are_deleted_at_recovery()
    {
        var options = Options(_dir.Path);
        var seen = new CommitFeed();
        using (var spool = OpenSpool(options))
        {
            seen.Attach(spool);
            await spool.CommitAsync(Envelope(), Seq(Message("1")), Ct);
            await spool.MarkFinalAsync(seen[0].Location, 0, RecipientOutcome.Delivered, Ct);
        }
        using var again = OpenSpool(options);
        Assert.Empty(await again.RecoverAsync(Ct));
        Assert.Empty(Segments(QueueDir(options)));
        Assert.Empty(Directory.GetFiles(QueueDir(options), "*.done"));
    }

    [Fact]
    public async Task Failed_batch_is_not_acknowledged_and_does_not_poison_later_commits()
    {
        var options = Options(_dir.Path);
        var good = new List<string>();
        var files = new FailingSegmentFiles();
        using (var spool = new SegmentSpool(options, new MtaPaths(options), NullLogger<SegmentSpool>.Instance, files))
        {
            var first = Envelope();
            await spool.CommitAsync(first, Seq(Message("ok1")), Ct);
            good.Add(first.QueueId);

            files.WriteFault = new IOException("No space left on device", 28);
            var ex = await Assert.ThrowsAsync<SpoolWriteException>(async () => await spool.CommitAsync(Envelope(), Seq(Message("lost")), Ct));
            Assert.True(ex.IsDiskFull);
            files.WriteFault = null;
            // The data reached the file but fdatasync failed: the kernel may have dropped it, so it is not acknowledged.
            files.FlushFault = new IOException("Input/output error", 5);
            ex = await Assert.ThrowsAsync<SpoolWriteException>(async () => await spool.CommitAsync(Envelope(), Seq(Message("lost")), Ct));
            Assert.False(ex.IsDiskFull);
            files.FlushFault = null;

            var second = Envelope();
            await spool.CommitAsync(second, Seq(Message("ok2")), Ct);
            good.Add(second.QueueId);
            Assert.Equal(2, spool.Statistics.FailedBatches);
        }
        using var again = OpenSpool(options);
        Assert.Equal(good, (await again.RecoverAsync(Ct)).Select(m => m.Envelope.QueueId));
    }

    [Fact]
    public async Task A_second_spool_cannot_open_the_same_directory()
    {
        var options = Options(_dir.Path);
        using var spool = OpenSpool(options);
        await spool.RecoverAsync(Ct);
        using var other = OpenSpool(options);
        await Assert.ThrowsAnyAsync<IOException>(() => other.RecoverAsync(Ct));
        await Assert.ThrowsAsync<SpoolWriteException>(async () => await other.CommitAsync(Envelope(), Seq(Message("x")), Ct));
    }

    [Fact]
    public async Task Commit_after_dispose_fails_as_a_spool_error()
    {
        var options = Options(_dir.Path);
        var spool = OpenSpool(options);
        await spool.CommitAsync(Envelope(), Seq(Message("x")), Ct);
        spool.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(async () => await spool.CommitAsync(Envelope(), Seq(Message("y")), Ct));
    }

    /// <summary>The real segment writes, failing as told: a full disk on write, a failing one on fdatasync.</summary>
    private sealed class FailingSegmentFiles : ISegmentFileWriter
    {
        public volatile IOException? WriteFault;
        public volatile IOException? FlushFault;

        public void Write(SafeFileHandle segment, IReadOnlyList<ReadOnlyMemory<byte>> buffers, long offset)
        {
            if (WriteFault is { } fault) throw fault;
            SegmentFileWriter.Instance.Write(segment, buffers, offset);
        }

        public void FlushData(SafeFileHandle segment)
        {
            if (FlushFault is { } fault) throw fault;
            SegmentFileWriter.Instance.FlushData(segment);
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
