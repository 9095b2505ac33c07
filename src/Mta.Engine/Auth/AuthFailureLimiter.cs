// Brakes on password guessing per client IP: a doubling delay before each 535, and a block after too many failures.
using System.Net;
using Mta.Engine.Configuration;

namespace Mta.Engine.Auth;

/// <summary>
/// Counts failed AUTH attempts per client address (IPv4 address, or IPv6 /64, since one host owns a whole /64).
/// The session asks <see cref="IsBlocked"/> before an AUTH exchange (454 4.7.0 when true), waits
/// <see cref="DelayFor"/> before answering a failure, then calls <see cref="RecordFailure"/> (and closes with
/// 421 4.7.0 when the address is now blocked), or <see cref="RecordSuccess"/> after 235.
/// </summary>
public sealed class AuthFailureLimiter
{
    // Tracked addresses above which expired entries are swept, so a scan from many addresses cannot grow memory unbounded.
    private const int SweepThreshold = 10_000;

    private readonly TimeProvider _time;
    private readonly int _maxFailures;
    private readonly TimeSpan _window;
    private readonly TimeSpan _maxDelay;
    private readonly Dictionary<IPAddress, Entry> _entries = [];
    private readonly Lock _lock = new();

    /// <summary>Creates a limiter with <c>Auth:MaxFailuresPerIp</c>, <c>Auth:FailureWindow</c> and <c>Auth:MaxDelay</c>.</summary>
    public AuthFailureLimiter(MtaOptions options, TimeProvider time)
    {
        _time = time;
        _maxFailures = options.Auth.MaxFailuresPerIp;
        _window = options.Auth.FailureWindow;
        _maxDelay = options.Auth.MaxDelay;
    }

    /// <summary>Addresses currently tracked (for tests and metrics).</summary>
    internal int TrackedCount { get { lock (_lock) return _entries.Count; } }

    /// <summary>
    /// How long to wait before answering the failure about to be recorded: zero for the first, then 1 s, 2 s, 4 s ...
    /// doubling per consecutive failure within the window, capped at <c>Auth:MaxDelay</c>.
    /// </summary>
    public TimeSpan DelayFor(IPAddress address)
    {
        lock (_lock)
        {
            if (!TryGetLive(Key(address), out var entry) || entry.Consecutive == 0) return TimeSpan.Zero;
            var seconds = Math.Pow(2, Math.Min(entry.Consecutive - 1, 30));
            var delay = TimeSpan.FromSeconds(seconds);
            return delay < _maxDelay ? delay : _maxDelay;
        }
    }

    /// <summary>Counts one failed attempt (bad credentials or a malformed response) against the address.</summary>
    public void RecordFailure(IPAddress address)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var key = Key(address);
            if (!TryGetLive(key, out var entry))
            {
                if (_entries.Count >= SweepThreshold) Sweep(now);
                entry = new Entry();
                _entries[key] = entry;
            }
            Expire(entry, now);
            entry.Failures.Enqueue(now);
            // Only the newest failures matter for the block; older ones would expire first anyway.
            while (entry.Failures.Count > _maxFailures) entry.Failures.Dequeue();
            entry.Consecutive++;
            entry.LastFailure = now;
        }
    }

    /// <summary>
    /// A successful AUTH resets the delay. The failures still count towards the block until they expire, so a
    /// client holding one valid account cannot interleave logins to keep guessing others at full speed.
    /// </summary>
    public void RecordSuccess(IPAddress address)
    {
        lock (_lock)
        {
            if (TryGetLive(Key(address), out var entry)) entry.Consecutive = 0;
        }
    }

    /// <summary>True when the address has <c>Auth:MaxFailuresPerIp</c> failures within <c>Auth:FailureWindow</c>:
    /// AUTH then answers 454 4.7.0 without checking credentials.</summary>
    public bool IsBlocked(IPAddress address)
    {
        lock (_lock)
        {
            if (!TryGetLive(Key(address), out var entry)) return false;
            Expire(entry, _time.GetUtcNow());
            return entry.Failures.Count >= _maxFailures;
        }
    }

    // Called under the lock; drops an entry whose newest failure is older than the window.
    private bool TryGetLive(IPAddress key, out Entry entry)
    {
        if (!_entries.TryGetValue(key, out entry!)) return false;
        if (_time.GetUtcNow() - entry.LastFailure < _window) return true;
        _entries.Remove(key);
        return false;
    }

    private void Expire(Entry entry, DateTimeOffset now)
    {
        while (entry.Failures.Count > 0 && now - entry.Failures.Peek() >= _window) entry.Failures.Dequeue();
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries)
            if (now - entry.LastFailure >= _window) _entries.Remove(key);
    }

    // IPv4-mapped IPv6 counts as the IPv4 address; other IPv6 addresses count per /64.
    internal static IPAddress Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) return Receiver.ClientAddress.Canonical(address);
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private sealed class Entry
    {
        public Queue<DateTimeOffset> Failures { get; } = new();
        public int Consecutive { get; set; }
        public DateTimeOffset LastFailure { get; set; }
    }
}
