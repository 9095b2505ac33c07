// Disk trouble for real: the queue on a small tmpfs that fills up gives 452 4.3.1, the session goes on, nothing partial is delivered, and the server recovers by itself.
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

/// <summary>
/// Mounts a 4 MiB tmpfs created by the test itself (root only; skipped where mounting is not permitted) and puts the
/// data directory (queue) there; the Maildir root is on the normal disk so that only the spool runs out of space.
/// The permission case (a read-only queue directory) is not tested: the tests run as root, for whom mode bits do not
/// stop a write.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private const string Recipient = "alice@example.test";
    private readonly string _mount = Path.Combine(Path.GetTempPath(), "mta-e2e-tmpfs-" + Guid.NewGuid().ToString("n")[..12]);
    private readonly string _maildir = Path.Combine(Path.GetTempPath(), "mta-e2e-maildir-" + Guid.NewGuid().ToString("n")[..12]);
    private bool _mounted;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Full_queue_disk_gives_452_4_3_1_keeps_the_session_and_recovers_when_space_returns()
    {
        MountTmpfs("4m");
        var started = Stopwatch.StartNew();
        var data = Path.Combine(_mount, "data");
        MtaTestServer? first = null, second = null;
        try
        {
            first = await MtaTestServer.StartAsync(Configure, dataDirectory: data);
            var spool = first.Services.GetRequiredService<Mta.Engine.Spool.SegmentSpool>();

            // One message before the disk fills, so the failed batch lands behind an acknowledged record in the
            // active segment (the truncate-back path). Its outcome is journaled before the disk is filled.
            await using (var c0 = await SmtpAssert.ConnectAsync(first))
            {
                await SmtpAssert.EhloAsync(c0);
                SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c0, "bob@sender.test", [Recipient], MessageBody("before", 1024)), 250, "2.0.0");
            }
            await first.WaitForMailAsync("alice", 1, TimeSpan.FromSeconds(10));
            for (var deadline = DateTime.UtcNow.AddSeconds(10); spool.Statistics.JournalEntries < 1 && DateTime.UtcNow < deadline;)
                await Task.Delay(10, Ct);
            Assert.Equal(1, spool.Statistics.JournalEntries);
            var segmentBytesBefore = QueueBytes(first);
            Assert.True(segmentBytesBefore > 0);

            // Fill the file system, then leave a few KB: far less than the ~200 KB message needs.
            var filler = Path.Combine(_mount, "filler");
            FillUntilFull(filler, leave: 8 * 1024);

            var body = MessageBody("first-attempt", 200 * 1024);
            await using var c = await SmtpAssert.ConnectAsync(first);
            await SmtpAssert.EhloAsync(c);
            var failed = await SmtpAssert.TransactionAsync(c, "bob@sender.test", [Recipient], body);
            SmtpAssert.Reply(failed, 452, "4.3.1");
            Assert.True(spool.Statistics.FailedBatches >= 1, $"expected a failed spool batch: {spool.Statistics}");
            Assert.Equal(1, spool.Statistics.Commits);

            // The session goes on.
            SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);

            // Nothing of the refused message reaches a Maildir, and no torn data is left in the queue.
            await Task.Delay(300, Ct);
            Assert.Equal(1, SmtpAssert.CountAllDelivered(first));
            Assert.True(QueueBytes(first) <= segmentBytesBefore, $"queue holds {QueueBytes(first)} bytes, {segmentBytesBefore} before the failure");

            // Space returns: the same session is accepted and the message delivered, without a restart.
            File.Delete(filler);
            var ok = await SmtpAssert.TransactionAsync(c, "bob@sender.test", [Recipient], MessageBody("second-attempt", 200 * 1024));
            SmtpAssert.Reply(ok, 250, "2.0.0");
            var delivered = await first.WaitForMailAsync("alice", 2, TimeSpan.FromSeconds(10));
            Assert.Equal(2, delivered.Length);
            Assert.Single(delivered, f => SmtpAssert.ReadText(f).Contains("Subject: second-attempt"));
            Assert.DoesNotContain(delivered, f => SmtpAssert.ReadText(f).Contains("first-attempt"));
            // A new session works as well.
            await using (var c2 = await SmtpAssert.ConnectAsync(first))
            {
                await SmtpAssert.EhloAsync(c2);
                SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c2, "bob@sender.test", [Recipient], MessageBody("third", 1024)), 250, "2.0.0");
            }
            await first.WaitForMailAsync("alice", 3, TimeSpan.FromSeconds(10));
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);

            // Stop without removing the data directory, then restart on it: the failed attempt left nothing
            // that recovery delivers, and what was delivered is not delivered again.
            // The spool holds its directory lock until it is disposed (with the host, which would also delete the data).
            await first.Services.GetRequiredService<IHost>().StopAsync(Ct);
            await spool.DisposeAsync();
            second = await MtaTestServer.StartAsync(Configure, dataDirectory: data);
            await Task.Delay(500, Ct);
            var after = Directory.GetFiles(second.MaildirNew("alice"));
            Assert.Equal(3, after.Length);
            Assert.Equal(1, after.Count(f => SmtpAssert.ReadText(f).Contains("Subject: second-attempt")));
            Assert.DoesNotContain(after, f => SmtpAssert.ReadText(f).Contains("first-attempt"));
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"took {started.Elapsed}");
        }
        finally
        {
            // The second server first: each one removes the data directory when it stops.
            if (second is not null) await second.DisposeAsync();
            if (first is not null) await first.DisposeAsync();
        }
    }

    private void Configure(Mta.Engine.Configuration.MtaOptions o)
    {
        o.Mailboxes.Root = _maildir;
        o.Queue.SegmentSize = 1024 * 1024;
    }

    private static string MessageBody(string subject, int size)
    {
        var sb = new StringBuilder();
        sb.Append($"From: bob@sender.test\r\nTo: {Recipient}\r\nSubject: {subject}\r\n\r\n");
        var line = subject + " " + new string('x', 70) + "\r\n";
        while (sb.Length < size) sb.Append(line);
        return sb.ToString();
    }

    private static long QueueBytes(MtaTestServer server) =>
        Directory.GetFiles(server.Paths.QueueDirectory, "*.seg").Sum(f => new FileInfo(f).Length);

    private static void FillUntilFull(string path, int leave)
    {
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'f');
            try
            {
                while (true) stream.Write(chunk);
            }
            catch (IOException) { }
            // Smaller writes fill the last partial chunk.
            var small = chunk.AsSpan(0, 4096);
            try
            {
                while (true) stream.Write(small);
            }
            catch (IOException) { }
        }
        var length = new FileInfo(path).Length;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
            stream.SetLength(Math.Max(0, length - leave));
    }

    private void MountTmpfs(string size)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("cannot mount tmpfs: not Linux");
        Directory.CreateDirectory(_mount);
        var (rc, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "tmpfs", _mount);
        if (rc != 0) Assert.Skip($"cannot mount tmpfs: {output.Trim()} (exit {rc})");
        _mounted = true;
    }

    private static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return (-1, ex.Message);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return (-1, $"{file} did not finish within 10 s");
            }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    public void Dispose()
    {
        if (_mounted && Run("umount", _mount).ExitCode != 0)
            Run("umount", "-l", _mount);
        try { Directory.Delete(_mount, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        try { Directory.Delete(_maildir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
