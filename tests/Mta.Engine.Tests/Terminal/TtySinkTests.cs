// TtySink: finds the user's ttys in utmp, honours mesg n, and writes a sanitised message to a real pseudo-terminal.
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Terminal;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TtySinkTests : IDisposable
{
    private const UnixFileMode MesgY = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite;
    private const UnixFileMode MesgN = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestDirectory _directory = new();
    private readonly string _utmp;

    public TtySinkTests() => _utmp = Path.Combine(_directory.Path, "utmp");

    public void Dispose() => _directory.Dispose();

    private TtySink Sink(string? devDirectory = null, bool enabled = true, int maxTextBytes = 4096, TimeProvider? time = null)
    {
        var options = new MtaOptions { HostName = "mta.test" };
        options.Terminal.Enabled = true;
        options.Terminal.MaxTextBytes = maxTextBytes;
        options.Terminal.Tty.Enabled = enabled;
        options.Terminal.Tty.UtmpPath = _utmp;
        options.Terminal.Tty.DevDirectory = devDirectory ?? "/dev";
        options.Terminal.Tty.WriteTimeout = TimeSpan.FromMilliseconds(500);
        return new TtySink(options, time ?? TimeProvider.System, NullLogger<TtySink>.Instance);
    }

    private void WriteUtmp(params byte[][] records) => File.WriteAllBytes(_utmp, records.SelectMany(r => r).ToArray());

    private static byte[] Login(string user, string line, int? pid = null) => Utmp.Record(Utmp.UserProcess, pid ?? Environment.ProcessId, line, user);

    private static PseudoTerminal CreatePty()
    {
        var pty = PseudoTerminal.TryCreate(out var reason);
        Assert.SkipWhen(pty is null, $"cannot create a pseudo-terminal here: {reason}");
        return pty!;
    }

    [Fact]
    public async Task A_message_reaches_a_real_pseudo_terminal_with_every_control_sequence_stripped()
    {
        using var pty = CreatePty();
        File.SetUnixFileMode(pty.SlavePath, MesgY);
        WriteUtmp(Login("alice", pty.Line));
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 12, 34, 0, TimeSpan.Zero));
        time.SetLocalTimeZone(TimeZoneInfo.Utc);
        var sink = Sink(time: time);
        Assert.Equal([pty.SlavePath], sink.Ttys("alice"));
        Assert.True(await sink.IsActiveAsync("alice", Ct));

        var message = new TerminalMessage(new SmtpAddress("bob", "example.test"), "lunch\u001b[2J?",
            "\u001b]0;pwned\u0007Are you \u001b[31mcoming\u001b[0m down?\n\u009b2Jsecond line\u202e\nthird\u0008\u0008\u0008");
        Assert.True(await sink.DeliverAsync("alice", message, Ct));

        var shown = await pty.ReadAsync(s => s.Contains("EOF"), TimeSpan.FromSeconds(10));
        Assert.Contains("EOF", shown);
        var lines = shown.Replace("\r", "").Split('\n');
        Assert.Equal(
            ["", "\aMessage from mta@mta.test on smtp at 12:34 ...", "From: bob@example.test", "Subject: lunch?", "",
                "Are you coming down?", "second line", "third", "EOF", ""], lines);
        Assert.DoesNotContain('\u001b', shown);
        Assert.DoesNotContain(shown, c => c is >= '\u0080' and <= '\u009f' || c == '\b');
        // CRLF line ends, as write(1) sends (the tty's ONLCR may add a CR of its own to each).
        Assert.Contains("\r\nEOF\r", shown);
    }

    [Fact]
    public async Task Mesg_n_on_the_tty_makes_the_user_inactive()
    {
        using var pty = CreatePty();
        File.SetUnixFileMode(pty.SlavePath, MesgN);
        WriteUtmp(Login("alice", pty.Line));
        var sink = Sink();
        Assert.Equal([pty.SlavePath], sink.Ttys("alice"));
        Assert.False(await sink.IsActiveAsync("alice", Ct));
        Assert.False(await sink.DeliverAsync("alice", new TerminalMessage(SmtpAddress.Null, null, "hi"), Ct));
        Assert.Equal("", await pty.ReadAsync(s => s.Length > 0, TimeSpan.FromMilliseconds(300)));

        File.SetUnixFileMode(pty.SlavePath, MesgY);
        Assert.True(await sink.IsActiveAsync("alice", Ct));
        Assert.True(await sink.DeliverAsync("alice", new TerminalMessage(SmtpAddress.Null, null, "hi"), Ct));
        var shown = await pty.ReadAsync(s => s.Contains("EOF"), TimeSpan.FromSeconds(10));
        Assert.Contains("From: <>", shown);
    }

    [Fact]
    public async Task Only_live_login_sessions_of_the_user_count()
    {
        var dev = Path.Combine(_directory.Path, "dev");
        Directory.CreateDirectory(Path.Combine(dev, "pts"));
        foreach (var name in new[] { "pts/1", "pts/2", "pts/3", "pts/4", "tty5" })
        {
            File.WriteAllText(Path.Combine(dev, name), "");
            File.SetUnixFileMode(Path.Combine(dev, name), MesgY);
        }
        WriteUtmp(
            Login("alice", "pts/1"),
            Utmp.Record(8, Environment.ProcessId, "pts/2", "alice"),   // DEAD_PROCESS: logged out
            Login("bob", "pts/3"),
            Login("alice", "pts/4", pid: int.MaxValue - 1),             // stale: its login process is gone
            Login("ALICE", "tty5"),                                     // another account, never case-folded onto alice
            Login("alice", "../../etc/passwd"),
            Login("alice", "/dev/pts/1"),
            Login("alice", "pts/1"),                                    // the same tty twice counts once
            Login("alice", "pts/\u0001x"));
        var sink = Sink(dev);
        Assert.Equal([Path.Combine(dev, "pts/1")], sink.Ttys("alice"));
        Assert.Equal([Path.Combine(dev, "pts/3")], sink.Ttys("bob"));
        Assert.Empty(sink.Ttys("carol"));
        Assert.True(await sink.IsActiveAsync("alice", Ct));
    }

    [Fact]
    public async Task A_device_path_that_is_not_a_terminal_is_never_written()
    {
        var dev = Path.Combine(_directory.Path, "dev");
        Directory.CreateDirectory(Path.Combine(dev, "pts"));
        var file = Path.Combine(dev, "pts", "1");
        File.WriteAllText(file, "");
        File.SetUnixFileMode(file, MesgY);
        var link = Path.Combine(dev, "pts", "2");
        File.CreateSymbolicLink(link, file);
        WriteUtmp(Login("alice", "pts/1"), Login("alice", "pts/2"));
        var sink = Sink(dev);
        Assert.True(await sink.IsActiveAsync("alice", Ct));
        Assert.False(await sink.DeliverAsync("alice", new TerminalMessage(SmtpAddress.Null, null, "hi"), Ct));
        Assert.Equal("", File.ReadAllText(file));
    }

    [Fact]
    public async Task A_missing_utmp_or_a_disabled_sink_means_nobody_is_active()
    {
        Assert.False(await Sink().IsActiveAsync("alice", Ct));
        Assert.False(await Sink().DeliverAsync("alice", new TerminalMessage(SmtpAddress.Null, null, "hi"), Ct));

        using var pty = CreatePty();
        File.SetUnixFileMode(pty.SlavePath, MesgY);
        WriteUtmp(Login("alice", pty.Line));
        Assert.False(await Sink(enabled: false).IsActiveAsync("alice", Ct));
        Assert.True(await Sink().IsActiveAsync("alice", Ct));
    }

    [Fact]
    public void Long_text_is_limited_in_what_a_tty_is_sent()
    {
        var sink = Sink(maxTextBytes: 256);
        var formatted = sink.Format(new TerminalMessage(new SmtpAddress("bob", "example.test"), null, new string('x', 10_000)));
        Assert.Contains("more bytes]\r\nEOF\r\n", formatted);
        Assert.True(formatted.Length < 500, $"{formatted.Length} chars");
        Assert.DoesNotContain("Subject:", formatted);
    }
}
