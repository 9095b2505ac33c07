// A session's read and write deadlines and its minimum data rate, on the TimeProvider (Kestrel's TimeoutControl shape).
using System.Buffers;
using System.Runtime.CompilerServices;

namespace Mta.Engine.Receiver;

/// <summary>Why a wait of the session ended without data.</summary>
internal enum TimeoutReason
{
    None,
    /// <summary>The read's or write's own deadline (command, data, session or message cap) passed.</summary>
    Timeout,
    /// <summary>The client sent a line or data slower than <c>Limits:MinDataRate</c> after the grace period.</summary>
    TooSlow,
}

/// <summary>
/// One per session. Every wait gets its own absolute deadline (timestamp ticks of the <see cref="TimeProvider"/>); one
/// timer serves all of them and, when it fires, compares the clock with the deadline of the wait armed now: a timer that
/// fires early, or one left over from an earlier wait, re-arms for what is left of the current deadline only and never
/// grants a fresh timeout. The timer is not reset when a wait ends: a later wait with a later deadline lets it fire and
/// re-arm, so a busy session costs no timer changes per command.
/// <para>The data rate (Kestrel's MinRequestBodyDataRate): while a command line, a DATA or BDAT body or an AUTH exchange
/// is incomplete, the bytes received and the time spent waiting for them add up in a window; once the window has
/// waited longer than the grace period, a wait ends (<see cref="TimeoutReason.TooSlow"/>) when the bytes would fall
/// below the rate. A command read while no line is pending is idle: only its timeout applies. Time the server spends
/// working (hooks, spool) is never counted against the client.</para>
/// </summary>
internal sealed class TimeoutControl : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly Action _onExpired;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private readonly long _minRate;
    private readonly long _grace;
    private readonly long _frequency;
    // Guarded by _lock: the armed wait and when the timer fires next.
    private long _deadline = long.MaxValue;
    private TimeoutReason _armedReason;
    private TimeoutReason _expired;
    private long _timerDue = long.MaxValue;
    // The session's own thread of control only (reads are sequential).
    private Window _window;
    private long _windowBytes;
    private long _windowWaited;
    private long _waitStart;
    private long _receivedAtWaitStart;
    private long _received;
    private bool _midLine;

    private enum Window { None, Line, Data }

    /// <param name="time">The clock.</param>
    /// <param name="onExpired">Cancels whatever the session waits for (pending read and flush); called on a timer thread.</param>
    /// <param name="minDataRate">Bytes per second; 0 turns the rate check off.</param>
    /// <param name="gracePeriod">How long a window may wait before the rate counts.</param>
    public TimeoutControl(TimeProvider time, Action onExpired, int minDataRate, TimeSpan gracePeriod)
    {
        _time = time;
        _onExpired = onExpired;
        _frequency = time.TimestampFrequency;
        _minRate = minDataRate;
        _grace = ToTimestamp(gracePeriod);
        _timer = time.CreateTimer(static s => ((TimeoutControl)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The clock now, in timestamp ticks.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>The timestamp <paramref name="timeout"/> from now (saturating: a huge timeout never wraps around).</summary>
    public long After(TimeSpan timeout)
    {
        var now = Now;
        var span = ToTimestamp(timeout);
        return span >= long.MaxValue - now ? long.MaxValue - 1 : now + span;
    }

    /// <summary>Bytes the connection delivered (counted by <see cref="ReceiveCountingStream"/> under the session's reader).</summary>
    public void Received(int count) => _received += count;

    /// <summary>Arms a read that must end by <paramref name="deadline"/>, or earlier if the data rate would fall too low.</summary>
    /// <param name="deadline">From <see cref="After"/>, computed once per read: a read that loops after a stale wake-up
    /// passes the same value again.</param>
    /// <param name="awaitingCommand">A command read (idle unless a partial line is pending) rather than DATA, BDAT or AUTH.</param>
    public void BeginRead(long deadline, bool awaitingCommand)
    {
        if (awaitingCommand)
        {
            if (!_midLine) _window = Window.None;
            else if (_window != Window.Line) Open(Window.Line);
        }
        else if (_window != Window.Data)
        {
            Open(Window.Data);
        }
        var now = Now;
        _waitStart = now;
        _receivedAtWaitStart = _received;
        var reason = TimeoutReason.Timeout;
        if (_window != Window.None && _minRate > 0)
        {
            // The window may have waited max(grace, bytes / rate) in all; what is left of that is this wait's budget.
            var earned = _windowBytes >= long.MaxValue / _frequency ? long.MaxValue / 2 : _windowBytes * _frequency / _minRate;
            var rateDeadline = now + Math.Max(_grace, earned) - _windowWaited;
            if (rateDeadline < deadline)
            {
                deadline = rateDeadline;
                reason = TimeoutReason.TooSlow;
            }
        }
        Arm(deadline, reason, now);
    }

    /// <summary>Ends the read armed by <see cref="BeginRead"/>: adds its bytes and waiting time to the window, notes
    /// whether a partial command line is left, and says whether its deadline passed.</summary>
    public TimeoutReason EndRead(in ReadOnlySequence<byte> buffer, bool canceled, bool awaitingCommand)
    {
        var expired = Disarm();
        if (_window != Window.None)
        {
            _windowWaited += Now - _waitStart;
            _windowBytes += _received - _receivedAtWaitStart;
        }
        if (!awaitingCommand) _midLine = false; // after DATA, BDAT or AUTH the next command read starts idle
        else if (!canceled) _midLine = !EndsWithLineFeed(buffer);
        return expired;
    }

    /// <summary>A new connection under the session (STARTTLS): nothing is pending any more.</summary>
    public void ResetLine()
    {
        _midLine = false;
        _window = Window.None;
    }

    /// <summary>Arms a write (flush) that must end by <paramref name="deadline"/>.</summary>
    public void BeginWrite(long deadline) => Arm(deadline, TimeoutReason.Timeout, Now);

    /// <summary>Ends the armed write; says whether its deadline passed.</summary>
    public TimeoutReason EndWrite() => Disarm();

    private void Open(Window window)
    {
        _window = window;
        _windowBytes = 0;
        _windowWaited = 0;
    }

    private void Arm(long deadline, TimeoutReason reason, long now)
    {
        var expireNow = false;
        lock (_lock)
        {
            _expired = TimeoutReason.None;
            if (deadline <= now)
            {
                _deadline = long.MaxValue;
                _expired = reason;
                expireNow = true;
            }
            else
            {
                _deadline = deadline;
                _armedReason = reason;
                // A timer due earlier stays: when it fires it re-arms for the rest of this deadline.
                if (deadline < _timerDue) Schedule(deadline, now);
            }
        }
        // Cancels the read about to start: it returns at once, canceled, and the session sees the expiry.
        if (expireNow) _onExpired();
    }

    private TimeoutReason Disarm()
    {
        lock (_lock)
        {
            var expired = _expired;
            _expired = TimeoutReason.None;
            _deadline = long.MaxValue;
            return expired;
        }
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _timerDue = long.MaxValue;
            if (_deadline == long.MaxValue) return; // nothing armed: the wait this timer was for has ended
            var now = Now;
            if (now < _deadline)
            {
                // Early (timer granularity) or left over from an earlier wait: only the remainder, never a fresh timeout.
                Schedule(_deadline, now);
                return;
            }
            _expired = _armedReason;
            _deadline = long.MaxValue;
        }
        _onExpired();
    }

    private void Schedule(long due, long now)
    {
        _timerDue = due;
        // Rounded up to whole milliseconds, plus one: the timer's own clock is coarser than the timestamp.
        var ticks = (due - now) * TimeSpan.TicksPerSecond / _frequency;
        var ms = Math.Min((ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond + 1, (long)uint.MaxValue - 2);
        try
        {
            _timer.Change(TimeSpan.FromMilliseconds(ms), Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The session is being disposed; nothing to wait for.
        }
    }

    private long ToTimestamp(TimeSpan span)
    {
        if (span <= TimeSpan.Zero) return 0;
        // Timestamp units per TimeSpan tick may be 100 (Stopwatch in ns) or 1 (a fake clock); saturate instead of wrapping.
        var ticks = span.Ticks;
        var scale = (double)_frequency / TimeSpan.TicksPerSecond;
        var result = ticks * scale;
        return result >= long.MaxValue / 2 ? long.MaxValue / 2 : (long)result;
    }

    private static bool EndsWithLineFeed(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsEmpty) return true;
        if (buffer.IsSingleSegment) return buffer.FirstSpan[^1] == (byte)'\n';
        return buffer.Slice(buffer.Length - 1).FirstSpan[0] == (byte)'\n';
    }

    public ValueTask DisposeAsync() => _timer.DisposeAsync();
}

/// <summary>The session's wait ended at a deadline: closed with 421 4.4.2.</summary>
internal sealed class SessionTimeoutException(TimeoutReason reason = TimeoutReason.Timeout) : Exception
{
    public TimeoutReason Reason { get; } = reason;
}

/// <summary>Counts the bytes a stream delivers, for <see cref="TimeoutControl"/>'s data rate; reading only.</summary>
internal sealed class ReceiveCountingStream(Stream inner, TimeoutControl control) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = inner.ReadAsync(buffer, cancellationToken);
        if (!read.IsCompletedSuccessfully) return Awaited(read);
        var n = read.Result;
        control.Received(n);
        return new ValueTask<int>(n);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> Awaited(ValueTask<int> read)
    {
        var n = await read.ConfigureAwait(false);
        control.Received(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        control.Received(n);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
