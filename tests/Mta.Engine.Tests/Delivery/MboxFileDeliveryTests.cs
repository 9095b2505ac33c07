// Mbox file delivery: the entry's format (From_ line, >From quoting, blank line), locking, failures deferred, ownership as root.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Delivery;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Delivery;

public sealed partial class MboxFileDeliveryTests : IDisposable
{
    private const string Body =
        "From: <s@remote.test>\r\nSubject: quoting\r\n\r\nFrom me to you\r\n>From quoted once\r\n>>From twice\r\n From not at start\r\nFromage\r\nlast line";

    private readonly TestDirectory _dir = new();

    public MboxFileDeliveryTests()
    {
        OpenTestFolder.ForEveryone(_dir.Path);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static UnixAccount? Nobody => UnixAccounts.IsEffectiveRoot ? UnixAccounts.System.ByName("nobody") : null;

    private static TestMessage Message(string text = Body, string sender = "s") =>
        new(TransactionKind.Mail, sender.Length == 0 ? SmtpAddress.Null : new SmtpAddress(sender, "remote.test"),
            [SpoolTestData.Recipient("alice@example.org")], text);

    private static MboxFileDelivery Delivery(TimeProvider? time = null) =>
        new(UnixAccounts.System, time ?? TimeProvider.System, NullLogger<MboxFileDelivery>.Instance);

    [GeneratedRegex(@"^From (\S+) (Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}$")]
    private static partial Regex FromLine();

    [Fact]
    public async Task Two_appends_make_two_mbox_entries_with_from_lines_quoting_and_blank_lines()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("mbox delivery is Unix only");
        var path = Path.Combine(_dir.Path, "mbox");
        var first = Message();
        var second = Message("Subject: second\r\n\r\nbody two\r\n", sender: "");

        var a = await Delivery().AppendAsync(path, Nobody, first, first.Recipients[0], Ct);
        var b = await Delivery().AppendAsync(path, Nobody, second, second.Recipients[0], Ct);

        Assert.Equal(DeliveryStatus.Delivered, a.Status);
        Assert.Equal(DeliveryStatus.Delivered, b.Status);
        var text = File.ReadAllText(path);
        Assert.DoesNotContain('\r', text);
        var lines = text.Split('\n');
        var entry1 = lines[..14];
        Assert.Matches(FromLine(), entry1[0]);
        Assert.Equal("s@remote.test", FromLine().Match(entry1[0]).Groups[1].Value);
        Assert.Equal(
            ["Return-Path: <s@remote.test>", "Delivered-To: alice@example.org", "From: <s@remote.test>", "Subject: quoting", "",
             ">From me to you", ">>From quoted once", ">>>From twice", " From not at start", "Fromage", "last line", ""],
            entry1[1..13]);
        Assert.Matches(FromLine(), lines[13]);
        Assert.Equal("MAILER-DAEMON", FromLine().Match(lines[13]).Groups[1].Value);
        Assert.Equal(["Return-Path: <>", "Delivered-To: alice@example.org", "Subject: second", "", "body two", "", ""], lines[14..]);
    }

    [Fact]
    public void Quoting_is_the_same_whatever_the_chunk_boundaries()
    {
        var input = "x\r\n>>Fro"u8.ToArray().Concat("m a\r\nFrom b\r\n\r\nFro\rm\r\n"u8.ToArray()).ToArray();
        var whole = Convert([input]);
        Assert.Equal("x\n>>>From a\n>From b\n\nFro\rm\n\n", whole);
        for (var cut = 1; cut < input.Length; cut++)
            Assert.Equal(whole, Convert([input[..cut], input[cut..]]));
    }

    private static string Convert(byte[][] chunks)
    {
        var lines = new MboxFileFormat.UnixLines(quoteFrom: true);
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var chunk in chunks) lines.Convert(chunk, output);
        lines.Finish(output, blankLine: true);
        return System.Text.Encoding.ASCII.GetString(output.WrittenSpan);
    }

    [Fact]
    public async Task Parallel_appends_in_one_process_never_interleave()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("mbox delivery is Unix only");
        var path = Path.Combine(_dir.Path, "busy");
        var big = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('y', 1000) + "\r\n", 300));
        var delivery = Delivery();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
        {
            var m = Message(big.Replace("big", "big" + i));
            return delivery.AppendAsync(path, Nobody, m, m.Recipients[0], Ct).AsTask();
        }));
        Assert.All(outcomes, o => Assert.Equal(DeliveryStatus.Delivered, o.Status));
        var entries = File.ReadAllText(path).Split("\n\nFrom ");
        Assert.Equal(8, entries.Length);
        Assert.All(entries, e => Assert.Equal(300, e.Split('\n').Count(l => l.Length == 1000 && l.All(c => c == 'y'))));
    }

    [Fact]
    public async Task An_append_waits_for_another_program_s_fcntl_lock()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("fcntl locks as on Linux");
        var path = Path.Combine(_dir.Path, "locked");
        File.WriteAllText(path, "");
        if (Nobody is { } n) Chown(path, n);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var reader = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        // A classic POSIX record lock, as mutt or mailx take one; it conflicts with the delivery's OFD lock.
        var held = new Flock { Type = 1 };
        Assert.Equal(0, fcntl((int)reader.DangerousGetHandle(), 6, ref held));
        var m = Message();
        var append = Delivery(time).AppendAsync(path, Nobody, m, m.Recipients[0], Ct).AsTask();

        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(append, Task.Delay(20, Ct));
        }
        Assert.False(append.IsCompleted, "the append went ahead under another program's lock");
        Assert.Equal(0, new FileInfo(path).Length);

        var release = new Flock { Type = 2 };
        Assert.Equal(0, fcntl((int)reader.DangerousGetHandle(), 6, ref release));
        await AdvanceUntilAsync(time, append);
        Assert.Equal(DeliveryStatus.Delivered, (await append).Status);
        Assert.StartsWith("From s@remote.test ", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_append_waits_for_a_dot_lock_and_removes_its_own()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("mbox delivery is Unix only");
        var path = Path.Combine(_dir.Path, "dotlocked");
        File.WriteAllText(path + ".lock", "");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var m = Message();
        var append = Delivery(time).AppendAsync(path, Nobody, m, m.Recipients[0], Ct).AsTask();
        for (var i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(append, Task.Delay(20, Ct));
        }
        Assert.False(append.IsCompleted);
        Assert.False(File.Exists(path));

        File.Delete(path + ".lock");
        await AdvanceUntilAsync(time, append);
        Assert.Equal(DeliveryStatus.Delivered, (await append).Status);
        Assert.True(File.Exists(path));
        Assert.False(File.Exists(path + ".lock"));
    }

    [Fact]
    public async Task A_failed_write_defers_and_a_symbolic_link_is_not_followed()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("mbox delivery is Unix only");
        var m = Message();
        var missing = await Delivery().AppendAsync(Path.Combine(_dir.Path, "no", "such", "folder"), Nobody, m, m.Recipients[0], Ct);
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (missing.Status, missing.EnhancedStatus));

        var target = Path.Combine(_dir.Path, "target");
        File.WriteAllText(target, "precious\n");
        var link = Path.Combine(_dir.Path, "link");
        File.CreateSymbolicLink(link, target);
        var linked = await Delivery().AppendAsync(link, Nobody, m, m.Recipients[0], Ct);
        Assert.Equal(DeliveryStatus.Deferred, linked.Status);
        Assert.Equal("precious\n", File.ReadAllText(target));

        var relative = await Delivery().AppendAsync("relative/mbox", Nobody, m, m.Recipients[0], Ct);
        Assert.Equal(DeliveryStatus.Deferred, relative.Status);
    }

    [Fact]
    public async Task As_root_the_file_is_created_and_owned_by_the_account_and_its_rights_apply()
    {
        if (!UnixAccounts.IsEffectiveRoot) Assert.Skip("needs root: only root can write as another account");
        var nobody = UnixAccounts.System.ByName("nobody")!;
        var path = Path.Combine(_dir.Path, "owned");
        var m = Message();
        var outcome = await Delivery().AppendAsync(path, nobody, m, m.Recipients[0], Ct);
        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal($"{nobody.Uid}:{nobody.Gid}", Stat(path, "%u:%g"));
        Assert.Equal("600", Stat(path, "%a"));

        // A folder nobody may not write stays closed to it, although the server is root.
        var closed = Path.Combine(_dir.Path, "closed");
        Directory.CreateDirectory(closed, (UnixFileMode)0x1ED); // 0755, root's
        var refused = await Delivery().AppendAsync(Path.Combine(closed, "mbox"), nobody, m, m.Recipients[0], Ct);
        Assert.Equal(DeliveryStatus.Deferred, refused.Status);
        Assert.False(File.Exists(Path.Combine(closed, "mbox")));
    }

    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Task task)
    {
        for (var i = 0; i < 200 && !task.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(task, Task.Delay(20, Ct));
        }
        Assert.True(task.IsCompleted, "the append never finished");
    }

    internal static string Stat(string path, string format)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return text;
    }

    internal static void Chown(string path, UnixAccount account)
    {
        using var chown = Process.Start("chown", [$"{account.Uid}:{account.Gid}", path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, ref Flock lockArgs);
}
