// TimeoutControl on a fake clock: per-wait deadlines that early or stale timers cannot extend, and the minimum data rate.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Receiver;

namespace Mta.Engine.Tests.Receiver;

public sealed class TimeoutControlTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    private sealed class Harness : IAsyncDisposable
    {
        public Harness(TimeProvider? time = null, int minRate = 240)
        {
            Clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
            Control = new TimeoutControl(time ?? Clock, () => Expiries++, minRate, Grace);
        }

        public FakeTimeProvider Clock { get; }
        public TimeoutControl Control { get; }
        public int Expiries { get; private set; }

        public void Advance(double seconds) => Clock.Advance(TimeSpan.FromSeconds(seconds));

        /// <summary>A read that gets <paramref name="text"/> (counted as received) after <paramref name="seconds"/>.</summary>
        public TimeoutReason Read(long deadline, bool awaitingCommand, double seconds, string text)
        {
            Control.BeginRead(deadline, awaitingCommand);
            Advance(seconds);
            Control.Received(text.Length);
            return Control.EndRead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)), canceled: false, awaitingCommand);
        }

        public ValueTask DisposeAsync() => Control.DisposeAsync();
    }

    /// <summary>A clock whose timers fire a little before they are due, as real timers do against a finer clock.</summary>
    private sealed class EarlyTimers(FakeTimeProvider inner, TimeSpan early) : TimeProvider
    {
        public override long GetTimestamp() => inner.GetTimestamp();
        public override long TimestampFrequency => inner.TimestampFrequency;
        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new Early(inner.CreateTimer(callback, state, Shorten(dueTime), period), this);
        private TimeSpan Shorten(TimeSpan due) => due == Timeout.InfiniteTimeSpan || due <= early ? due : due - early;

        private sealed class Early(ITimer timer, EarlyTimers owner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(owner.Shorten(dueTime), period);
            public void Dispose() => timer.Dispose();
            public ValueTask DisposeAsync() => timer.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_timer_that_fires_early_rearms_for_the_remainder_and_the_wait_expires_at_its_deadline()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var expiries = 0;
        await using var control = new TimeoutControl(new EarlyTimers(clock, TimeSpan.FromMilliseconds(5)), () => expiries++, 240, Grace);
        control.BeginRead(control.After(TimeSpan.FromSeconds(10)), awaitingCommand: true);
        clock.Advance(TimeSpan.FromMilliseconds(9_994)); // the timer fired, early: not expired, re-armed for the rest
        Assert.Equal(0, expiries);
        clock.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, expiries);
        Assert.Equal(TimeoutReason.Timeout, control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: true));
    }

    [Fact]
    public async Task Forty_waits_on_early_timers_all_expire_within_a_few_milliseconds_of_their_deadline()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var time = new EarlyTimers(clock, TimeSpan.FromMilliseconds(3));
        var expiredAt = new List<DateTimeOffset>();
        var controls = new List<TimeoutControl>();
        for (var i = 0; i < 40; i++)
        {
            var control = new TimeoutControl(time, () => expiredAt.Add(clock.GetUtcNow()), 240, Grace);
            controls.Add(control);
            clock.Advance(TimeSpan.FromMilliseconds(7)); // staggered starts
            control.BeginRead(control.After(TimeSpan.FromSeconds(10)), awaitingCommand: true);
        }
        var start = clock.GetUtcNow();
        for (var ms = 0; ms < 12_000; ms += 1) clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(40, expiredAt.Count);
        Assert.All(expiredAt, t => Assert.True(t < start + TimeSpan.FromSeconds(10.05), $"expired late: {t - start}"));
        foreach (var c in controls) await c.DisposeAsync();
    }

    [Fact]
    public async Task A_timer_left_from_an_earlier_wait_does_not_end_the_next_one_early_or_give_it_more_time()
    {
        await using var h = new Harness();
        // First wait: 10 s budget, data after 1 s (the timer stays set for the 10 s mark).
        Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromSeconds(10)), awaitingCommand: true, 1, "NOOP\r\n"));
        // Second wait: its own 10 s, due at the 11 s mark.
        h.Control.BeginRead(h.Control.After(TimeSpan.FromSeconds(10)), awaitingCommand: true);
        h.Advance(9); // 10 s mark: the old timer fires and re-arms for 1 s
        Assert.Equal(0, h.Expiries);
        h.Advance(1);
        Assert.Equal(1, h.Expiries);
        Assert.Equal(TimeoutReason.Timeout, h.Control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: true));
    }

    [Fact]
    public async Task A_read_looping_with_the_same_deadline_gets_only_what_is_left()
    {
        await using var h = new Harness();
        var deadline = h.Control.After(TimeSpan.FromSeconds(10));
        h.Control.BeginRead(deadline, awaitingCommand: true);
        h.Advance(6);
        // A stop request (not honoured inside a transaction) wakes the read; it loops with the same deadline.
        Assert.Equal(TimeoutReason.None, h.Control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: true));
        h.Control.BeginRead(deadline, awaitingCommand: true);
        h.Advance(3.9);
        Assert.Equal(0, h.Expiries);
        h.Advance(0.2);
        Assert.Equal(1, h.Expiries);
    }

    [Fact]
    public async Task A_client_dripping_a_line_is_cut_after_the_grace_period_not_at_the_command_timeout()
    {
        await using var h = new Harness();
        var line = "";
        var expired = TimeoutReason.None;
        var waited = 0.0;
        for (var i = 0; i < 100 && expired == TimeoutReason.None; i++)
        {
            // Every read gets the 5-minute command timeout; one byte arrives every 3 s.
            var deadline = h.Control.After(TimeSpan.FromMinutes(5));
            h.Control.BeginRead(deadline, awaitingCommand: true);
            if (h.Expiries > 0 || WouldExpireWithin(h, 3))
            {
                expired = h.Control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: true);
                break;
            }
            line += "EHLO drip.example"[i % 17];
            h.Control.Received(1);
            waited += 3;
            h.Control.EndRead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(line)), canceled: false, awaitingCommand: true);
        }
        Assert.Equal(TimeoutReason.TooSlow, expired);
        Assert.InRange(waited, 9, 12); // the first byte opened the line; 10 s of grace later it was over
    }

    private static bool WouldExpireWithin(Harness h, double seconds)
    {
        h.Advance(seconds);
        return h.Expiries > 0;
    }

    [Fact]
    public async Task An_idle_client_between_commands_is_governed_by_the_timeout_only()
    {
        await using var h = new Harness();
        Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: true, 0.1, "EHLO a.example\r\n"));
        // 4 minutes idle, far past the grace period, with nothing received: still inside the command timeout.
        Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: true, 240, "NOOP\r\n"));
        Assert.Equal(0, h.Expiries);
        h.Control.BeginRead(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: true);
        h.Advance(299);
        Assert.Equal(0, h.Expiries);
        h.Advance(1.1);
        Assert.Equal(1, h.Expiries);
        Assert.Equal(TimeoutReason.Timeout, h.Control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: true));
    }

    [Fact]
    public async Task Data_at_a_steady_honest_rate_is_never_cut_and_server_time_does_not_count()
    {
        await using var h = new Harness();
        var chunk = new string('x', 298) + "\r\n"; // 300 bytes a second: above 240
        for (var i = 0; i < 120; i++)
        {
            Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: false, 1, chunk));
            if (i == 60) h.Advance(120); // the server works (hooks, spool) between reads: not the client's time
        }
        Assert.Equal(0, h.Expiries);
    }

    [Fact]
    public async Task Data_that_stalls_is_cut_when_its_average_falls_below_the_rate()
    {
        await using var h = new Harness();
        // 20 s at 300 B/s (6000 bytes, which earn 25 s at 240 B/s), then nothing.
        for (var i = 0; i < 20; i++)
            Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: false, 1, new string('x', 300)));
        h.Control.BeginRead(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: false);
        h.Advance(4.9);
        Assert.Equal(0, h.Expiries);
        h.Advance(0.2);
        Assert.Equal(1, h.Expiries);
        Assert.Equal(TimeoutReason.TooSlow, h.Control.EndRead(ReadOnlySequence<byte>.Empty, canceled: true, awaitingCommand: false));
    }

    [Fact]
    public async Task A_rate_of_zero_turns_the_check_off()
    {
        await using var h = new Harness(minRate: 0);
        for (var i = 0; i < 20; i++)
            Assert.Equal(TimeoutReason.None, h.Read(h.Control.After(TimeSpan.FromMinutes(5)), awaitingCommand: true, 3, "E"));
        Assert.Equal(0, h.Expiries);
    }

    [Fact]
    public async Task A_deadline_already_past_expires_at_once()
    {
        await using var h = new Harness();
        var deadline = h.Control.After(TimeSpan.FromSeconds(1));
        h.Advance(2);
        h.Control.BeginWrite(deadline);
        Assert.Equal(1, h.Expiries);
        Assert.Equal(TimeoutReason.Timeout, h.Control.EndWrite());
    }
}
