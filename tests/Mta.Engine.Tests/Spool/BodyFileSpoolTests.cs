// Body-file records: a large message committed by reference to the file it was spilled to, recovered, cleaned up.
using System.Text;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;
using static Mta.Engine.Tests.Spool.SpoolTestData;

namespace Mta.Engine.Tests.Spool;

public sealed class BodyFileSpoolTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static string QueueDir(MtaOptions o) => new MtaPaths(o).QueueDirectory;

    private async Task<SpoolBodyFile> WriteBodyAsync(SegmentSpool spool, byte[] content)
    {
        var body = spool.CreateBodyFile()!;
        // Several appends, as a session writes while the data arrives.
        for (var at = 0; at < content.Length; at += 70_000)
            await body.AppendAsync([content.AsMemory(at, Math.Min(70_000, content.Length - at))], Ct);
        return body;
    }

    private static byte[] Large(string subject, int size = 300_000) => Message(subject, size);

    [Fact]
    public async Task A_body_file_record_reads_back_as_prefix_then_body_before_and_after_a_restart()
    {
        var options = Options(_dir.Path);
        var prefix = Encoding.ASCII.GetBytes("Received: from test\r\nX-Rewritten: head\r\n");
        var content = Large("big");
        const int skipped = 25; // a rewritten head replaced the first octets
        var envelope = Envelope();
        SpooledMessage? announced;
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            using var body = await WriteBodyAsync(spool, content);
            await spool.CommitAsync(envelope, prefix, body, skipped, Ct);
            announced = spool.Committed.TryRead(out var committed) ? committed : null;
            Assert.Equal(Path.Combine(QueueDir(options), envelope.QueueId + ".body"), body.Path);
            Assert.NotNull(announced);
            Assert.Equal(prefix.Length + content.Length - skipped, announced.Location.MessageLength);
            Assert.Equal([.. prefix, .. content[skipped..]], ReadAll(spool.OpenMessage(announced.Location)));
        }
        // Disposing the committed file kept it.
        Assert.True(File.Exists(Path.Combine(QueueDir(options), envelope.QueueId + ".body")));

        using var again = OpenSpool(options);
        var recovered = Assert.Single(await again.RecoverAsync(Ct));
        Assert.Equal(envelope.QueueId, recovered.Envelope.QueueId);
        Assert.Equal(announced.Location, recovered.Location);
        Assert.Equal([.. prefix, .. content[skipped..]], ReadAll(again.OpenMessage(recovered.Location)));
    }

    [Fact]
    public async Task Recovery_deletes_temporary_and_unreferenced_body_files_and_keeps_referenced_ones()
    {
        var options = Options(_dir.Path);
        var envelope = Envelope();
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            using var body = await WriteBodyAsync(spool, Large("kept"));
            await spool.CommitAsync(envelope, "P: 1\r\n"u8.ToArray(), body, 0, Ct);
            // A session the crash interrupted, and a body renamed just before a crash that cut its record.
            var abandoned = await WriteBodyAsync(spool, Large("abandoned"));
            _ = abandoned; // not disposed: a crash leaves the file behind
            await File.WriteAllBytesAsync(Path.Combine(QueueDir(options), QueueIds.Next() + ".body"), Large("unreferenced"), Ct);
        }
        var queue = QueueDir(options);
        Assert.Equal(3, Directory.GetFiles(queue, "*.tmp").Length + Directory.GetFiles(queue, "*.body").Length);

        using var again = OpenSpool(options);
        Assert.Single(await again.RecoverAsync(Ct));
        Assert.Empty(Directory.GetFiles(queue, "*.tmp"));
        Assert.Equal([envelope.QueueId + ".body"], Directory.GetFiles(queue, "*.body").Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_damaged_body_is_not_delivered_and_the_records_after_it_are()
    {
        var options = Options(_dir.Path);
        var damaged = Envelope();
        var after = Envelope();
        using (var spool = OpenSpool(options))
        {
            await spool.RecoverAsync(Ct);
            using var body = await WriteBodyAsync(spool, Large("damaged"));
            await spool.CommitAsync(damaged, "P: 1\r\n"u8.ToArray(), body, 0, Ct);
            await spool.CommitAsync(after, Seq(Message("after")), Ct);
        }
        var path = Path.Combine(QueueDir(options), damaged.QueueId + ".body");
        var bytes = await File.ReadAllBytesAsync(path, Ct);
        bytes[1000] ^= 0x20;
        await File.WriteAllBytesAsync(path, bytes, Ct);

        using var again = OpenSpool(options);
        var recovered = Assert.Single(await again.RecoverAsync(Ct));
        Assert.Equal(after.QueueId, recovered.Envelope.QueueId);
    }

    [Fact]
    public async Task An_uncommitted_body_file_is_deleted_when_disposed()
    {
        var options = Options(_dir.Path);
        using var spool = OpenSpool(options);
        await spool.RecoverAsync(Ct);
        var body = await WriteBodyAsync(spool, Large("dropped"));
        Assert.True(File.Exists(body.Path));
        body.Dispose();
        Assert.False(File.Exists(body.Path));
    }

    [Fact]
    public async Task The_body_file_goes_with_its_segment_once_every_recipient_is_final()
    {
        var options = Options(_dir.Path, segmentSize: 1024 * 1024);
        var envelope = Envelope();
        var seen = new CommitFeed();
        using var spool = OpenSpool(options);
        await spool.RecoverAsync(Ct);
        seen.Attach(spool);
        using (var body = await WriteBodyAsync(spool, Large("retired")))
            await spool.CommitAsync(envelope, "P: 1\r\n"u8.ToArray(), body, 0, Ct);
        var path = Path.Combine(QueueDir(options), envelope.QueueId + ".body");
        Assert.True(File.Exists(path));
        await spool.MarkFinalAsync(seen[0].Location, 0, RecipientOutcome.Delivered, Ct);
        // A record too large for the rest of the segment seals it, and a sealed segment with nothing pending retires.
        await spool.CommitAsync(Envelope(), Seq(Message("filler", 1024 * 1024)), Ct);
        Assert.False(File.Exists(path));
    }
}
