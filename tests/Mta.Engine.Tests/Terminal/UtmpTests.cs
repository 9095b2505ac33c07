// utmp parsing: glibc's own record layout, built records, torn and garbage files.
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Terminal;

public sealed class UtmpTests
{
    // One struct utmp written by a C program compiled against glibc (x86_64): USER_PROCESS, pid 1234, "pts/7",
    // "alice", host "h.example", tv_sec 1700000000. Pins the layout to the C library's, not to our own writer.
    private const string GlibcRecord =
        "BwAAANIEAABwdHMvNwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABhbGljZQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGguZXhhbXBsZQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADxU2UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    [Fact]
    public void A_record_written_by_glibc_parses()
    {
        var bytes = Convert.FromBase64String(GlibcRecord);
        Assert.Equal(Utmp.RecordSize, bytes.Length);
        var entry = Assert.Single(Utmp.Parse(bytes));
        Assert.Equal(new UtmpEntry(Utmp.UserProcess, 1234, "pts/7", "alice", "h.example", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000)), entry);
    }

    [Fact]
    public void Our_record_writer_matches_glibc_byte_for_byte()
    {
        var ours = Utmp.Record(Utmp.UserProcess, 1234, "pts/7", "alice", "h.example", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        Assert.Equal(Convert.FromBase64String(GlibcRecord), ours);
    }

    [Fact]
    public void Several_records_parse_in_order_and_a_torn_last_one_is_ignored()
    {
        var data = new List<byte>();
        data.AddRange(Utmp.Record(2, 0, "~", "reboot"));                      // BOOT_TIME
        data.AddRange(Utmp.Record(Utmp.UserProcess, 10, "tty1", "bob"));
        data.AddRange(Utmp.Record(8, 11, "pts/0", ""));                        // DEAD_PROCESS
        data.AddRange(Utmp.Record(Utmp.UserProcess, 12, "pts/1", "carol").AsSpan(0, 200).ToArray());
        var entries = Utmp.Parse(data.ToArray());
        Assert.Equal(3, entries.Count);
        Assert.Equal(("reboot", "~"), (entries[0].User, entries[0].Line));
        Assert.Equal((Utmp.UserProcess, 10, "tty1", "bob"), (entries[1].Type, entries[1].ProcessId, entries[1].Line, entries[1].User));
        Assert.Equal(8, entries[2].Type);
    }

    [Fact]
    public void Fields_without_a_terminating_nul_fill_their_whole_width_and_long_strings_are_cut()
    {
        var entry = Assert.Single(Utmp.Parse(Utmp.Record(Utmp.UserProcess, 1, new string('l', 40), new string('u', 40))));
        Assert.Equal(new string('l', 32), entry.Line);
        Assert.Equal(new string('u', 32), entry.User);
    }

    [Fact]
    public void Garbage_never_throws()
    {
        var random = new Random(7);
        for (var round = 0; round < 200; round++)
        {
            var bytes = new byte[random.Next(0, Utmp.RecordSize * 4)];
            random.NextBytes(bytes);
            var entries = Utmp.Parse(bytes);
            Assert.Equal(bytes.Length / Utmp.RecordSize, entries.Count);
            Assert.All(entries, e => Assert.True(e.Line.Length <= 32 && e.User.Length <= 32));
        }
        Assert.Empty(Utmp.Parse([]));
    }

    [Fact]
    public void Read_takes_a_file()
    {
        using var directory = new TestDirectory();
        var path = Path.Combine(directory.Path, "utmp");
        File.WriteAllBytes(path, [.. Utmp.Record(Utmp.UserProcess, 5, "pts/9", "dave"), .. Utmp.Record(Utmp.UserProcess, 6, "pts/8", "erin")]);
        Assert.Equal(["dave", "erin"], Utmp.Read(path).Select(e => e.User));
        Assert.Throws<FileNotFoundException>(() => Utmp.Read(Path.Combine(directory.Path, "missing")));
    }
}
