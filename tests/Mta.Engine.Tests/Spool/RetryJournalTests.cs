// The spool's retry journal: a deferred recipient's schedule and last error survive a restart.
using Mta.Engine.Configuration;
using Mta.Engine.Spool;
using static Mta.Engine.Tests.Spool.SpoolTestData;

namespace Mta.Engine.Tests.Spool;

public sealed class RetryJournalTests : IDisposable
{
    private static readonly DateTimeOffset Next = new(2025, 6, 1, 12, 30, 0, TimeSpan.Zero);
    private readonly TestDirectory _dir = new();
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Deferral_is_recovered_with_attempts_time_flag_and_error()
    {
        var options = Options(_dir.Path);
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            var location = await CommitAsync(spool, "a@remote.test", "b@remote.test");
            await spool.RecordDeferralAsync(location, 1, new DeferralRecord(3, Next, true, "4.4.1 connect to mx[192.0.2.1]:25: Connection refused"), Ct);
        }
        using var again = OpenSpool(options);
        var recovered = Assert.Single(await again.RecoverAsync(Ct));
        Assert.NotNull(recovered.Deferrals);
        var deferral = Assert.Single(recovered.Deferrals);
        Assert.Equal(1, deferral.Key);
        Assert.Equal(new DeferralRecord(3, Next, true, "4.4.1 connect to mx[192.0.2.1]:25: Connection refused"), deferral.Value);
    }

    [Fact]
    public async Task Latest_deferral_wins_and_a_final_outcome_beats_it()
    {
        var options = Options(_dir.Path);
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            var location = await CommitAsync(spool, "a@remote.test", "b@remote.test");
            await spool.RecordDeferralAsync(location, 0, new DeferralRecord(1, Next, false, "first"), Ct);
            await spool.RecordDeferralAsync(location, 0, new DeferralRecord(2, Next.AddMinutes(10), false, "second"), Ct);
            await spool.RecordDeferralAsync(location, 1, new DeferralRecord(1, Next, false, "b deferred"), Ct);
            await spool.MarkFinalAsync(location, 1, RecipientOutcome.Delivered, Ct);
        }
        using var again = OpenSpool(options);
        var recovered = Assert.Single(await again.RecoverAsync(Ct));
        Assert.Equal([1], recovered.FinalRecipients);
        var deferral = Assert.Single(recovered.Deferrals!);
        Assert.Equal(0, deferral.Key);
        Assert.Equal(new DeferralRecord(2, Next.AddMinutes(10), false, "second"), deferral.Value);
    }

    [Fact]
    public async Task Torn_tail_of_the_retry_journal_is_dropped_and_appends_continue_after_the_valid_part()
    {
        var options = Options(_dir.Path);
        var queueDir = new MtaPaths(options).QueueDirectory;
        SpoolLocation location;
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            location = await CommitAsync(spool, "a@remote.test", "b@remote.test");
            await spool.RecordDeferralAsync(location, 0, new DeferralRecord(1, Next, false, "kept"), Ct);
        }
        var retryFile = Assert.Single(Directory.GetFiles(queueDir, "*.retry"));
        await File.AppendAllTextAsync(retryFile, "MTRY\x50\0\0\0torn", Ct);

        using (var spool = OpenSpool(options))
        {
            var recovered = Assert.Single(await spool.RecoverAsync(Ct));
            Assert.Equal("kept", recovered.Deferrals![0].LastError);
            await spool.RecordDeferralAsync(recovered.Location, 1, new DeferralRecord(1, Next, false, "after the tear"), Ct);
        }
        using var third = OpenSpool(options);
        var last = Assert.Single(await third.RecoverAsync(Ct));
        Assert.Equal("kept", last.Deferrals![0].LastError);
        Assert.Equal("after the tear", last.Deferrals[1].LastError);
    }

    [Fact]
    public async Task Retry_journal_is_deleted_with_its_segment()
    {
        var options = Options(_dir.Path, segmentSize: 1024 * 1024);
        var queueDir = new MtaPaths(options).QueueDirectory;
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            var location = await CommitAsync(spool, "a@remote.test");
            await spool.RecordDeferralAsync(location, 0, new DeferralRecord(1, Next, false, "later"), Ct);
            await spool.MarkFinalAsync(location, 0, RecipientOutcome.Failed, Ct);
        }
        // The segment was still active (not sealed) at shutdown; the next start finds nothing pending and deletes all.
        using var again = OpenSpool(options);
        Assert.Empty(await again.RecoverAsync(Ct));
        Assert.Empty(Directory.GetFiles(queueDir, "*.retry"));
        Assert.Empty(Directory.GetFiles(queueDir, "*.seg"));
    }

    [Fact]
    public void Error_text_longer_than_the_bound_is_cut_not_refused()
    {
        var bytes = new List<byte>();
        SpoolFormat.WriteRetryEntry(bytes, 16, 0, new DeferralRecord(1, Next, false, new string('e', 5000)));
        var entries = new Dictionary<(long, int), DeferralRecord>();
        Assert.Equal(bytes.Count, SpoolFormat.ReadRetryEntries(bytes.ToArray(), entries));
        Assert.Equal(SpoolFormat.MaxRetryErrorBytes, entries[(16, 0)].LastError!.Length);
    }

    /// <summary>Commits one message and returns its location, as the queue learns it from the spool's commit channel.</summary>
    private async Task<SpoolLocation> CommitAsync(SegmentSpool spool, params string[] recipients)
    {
        await spool.CommitAsync(Envelope(null, recipients), Seq(Message("m")), Ct);
        while (spool.Committed.TryRead(out var committed))
            if (committed.Envelope.Recipients.Count == recipients.Length) return committed.Location;
        throw new InvalidOperationException("the commit was not announced");
    }
}
