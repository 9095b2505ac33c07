// The scheduler's per-destination windows: slots up to the window, waiting work in order, the slot handed over, no lost wake-up.
using Mta.Engine.Queue;

namespace Mta.Engine.Tests.Queue;

public sealed class DestinationWindowsTests
{
    [Fact]
    public void Slots_are_taken_up_to_the_window_then_work_waits()
    {
        var windows = new DestinationWindows<string>();
        Assert.True(windows.TryAcquireOrWait("mx.example", 2, "a"));
        Assert.True(windows.TryAcquireOrWait("mx.example", 2, "b"));
        Assert.False(windows.TryAcquireOrWait("mx.example", 2, "c"));
        Assert.False(windows.TryAcquireOrWait("MX.Example", 2, "d"));
        // Another destination has its own window.
        Assert.True(windows.TryAcquireOrWait("other.example", 2, "e"));
        Assert.Equal(2, windows.Waiting);
        Assert.Equal((2, 2), windows.Snapshot()["mx.example"]);
    }

    [Fact]
    public void A_release_hands_the_slot_to_the_first_waiting_work_and_frees_it_when_none_waits()
    {
        var windows = new DestinationWindows<string>();
        Assert.True(windows.TryAcquireOrWait("d", 1, "first"));
        Assert.False(windows.TryAcquireOrWait("d", 1, "second"));
        Assert.False(windows.TryAcquireOrWait("d", 1, "third"));

        Assert.True(windows.Release("d", out var next));
        Assert.Equal("second", next);
        // The slot went with it: new work still waits behind "third".
        Assert.False(windows.TryAcquireOrWait("d", 1, "fourth"));
        Assert.True(windows.Release("d", out next));
        Assert.Equal("third", next);
        Assert.True(windows.Release("d", out next));
        Assert.Equal("fourth", next);
        Assert.False(windows.Release("d", out _));
        Assert.Equal(0, windows.Waiting);
        Assert.Empty(windows.Snapshot());
        Assert.True(windows.TryAcquireOrWait("d", 1, "fifth"));
    }

    [Fact]
    public async Task Under_contention_no_more_than_the_window_run_and_every_waiting_work_runs()
    {
        const int window = 3, works = 2000;
        var windows = new DestinationWindows<int>();
        var running = 0;
        var maxRunning = 0;
        var done = 0;

        void Run(int work)
        {
            // Holding a slot: run, then release and run whatever the slot was handed to, as the scheduler does.
            while (true)
            {
                var now = Interlocked.Increment(ref running);
                InterlockedMax(ref maxRunning, now);
                Thread.SpinWait(50);
                Interlocked.Decrement(ref running);
                Interlocked.Increment(ref done);
                if (!windows.Release("d", out work)) return;
            }
        }

        await Task.WhenAll(Enumerable.Range(0, works).Select(i => Task.Run(() =>
        {
            if (windows.TryAcquireOrWait("d", window, i)) Run(i);
        })));

        Assert.Equal(works, done);
        Assert.InRange(maxRunning, 1, window);
        Assert.Equal(0, windows.Waiting);
        Assert.Empty(windows.Snapshot());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
