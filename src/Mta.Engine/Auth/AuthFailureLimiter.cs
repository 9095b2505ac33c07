// Brakes on password guessing per client IP: a doubling delay before each 535, and a block after too many failures.
using System.Diagnostics.CodeAnalysis;
using System.Net;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Auth;

/// <summary>
/// Counts failed AUTH attempts per client address (IPv4 address, or IPv6 /64, since one host owns a whole /64).
/// The session reserves a failure slot with <see cref="TryBeginAttempt"/> before it checks credentials (454 4.7.0 when
/// none is left): attempts in progress count against <c>Auth:MaxFailuresPerIp</c> as if they had failed, so parallel
/// connections cannot all be evaluated between one check and one record. The attempt then ends as
/// <see cref="AuthAttempt.Fail"/> (after <see cref="DelayFor"/>; the session closes with 421 4.7.0 when the address
/// is now blocked), <see cref="AuthAttempt.Succeed"/> after 235, or is released by disposing it (cancelled, or the
/// client left).
/// <para>With <c>State:Provider</c> <c>Redis</c> the failures are also counted in the shared state store (owner
/// <see cref="StateOwner"/>, a sliding window per address), so failures on every node count together:
/// <see cref="TryBeginAttemptAsync"/> reads the nodes' count before it reserves, and <see cref="AuthAttempt.FailAsync"/>
/// adds to it. The synchronous checks use the count last read. While Redis is unavailable the shared count falls back
/// to this node's (the store counts locally), so the limiter counts on this node alone.</para>
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
    private readonly IStateStore? _shared;

    /// <summary>The owner of the shared failure counts in the state store (keys <c>failures:ADDRESS</c>).</summary>
    public const string StateOwner = "engine:auth";

    /// <summary>Creates a limiter with <c>Auth:MaxFailuresPerIp</c>, <c>Auth:FailureWindow</c> and <c>Auth:MaxDelay</c>.</summary>
    public AuthFailureLimiter(MtaOptions options, TimeProvider time) : this(options, time, null) { }

    /// <summary>Creates a limiter that also counts failures in <paramref name="shared"/>, the store every node shares
    /// (null: this node alone).</summary>
    public AuthFailureLimiter(MtaOptions options, TimeProvider time, IStateStore? shared)
    {
        _shared = shared;
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

    /// <summary>
    /// Reserves a failure slot for an attempt about to be evaluated, atomically with the check: false (nothing reserved)
    /// when the failures within the window plus the attempts in progress already reach <c>Auth:MaxFailuresPerIp</c>.
    /// </summary>
    public bool TryBeginAttempt(IPAddress address, [NotNullWhen(true)] out AuthAttempt? attempt)
    {
        var now = _time.GetUtcNow();
        var key = Key(address);
        lock (_lock)
        {
            var entry = GetOrAdd(key, now);
            Expire(entry, now);
            if (Failures(entry, now) + entry.InProgress >= _maxFailures)
            {
                attempt = null;
                return false;
            }
            entry.InProgress++;
        }
        attempt = new AuthAttempt(this, key);
        return true;
    }

    /// <summary>
    /// As <see cref="TryBeginAttempt"/>, after reading how many failures every node sharing the state store has seen
    /// from the address: null (nothing reserved) when they, plus the attempts in progress here, reach the limit.
    /// </summary>
    public async ValueTask<AuthAttempt?> TryBeginAttemptAsync(IPAddress address, CancellationToken cancellationToken)
    {
        if (_shared is not null) await CountSharedAsync(Key(address), 0, cancellationToken).ConfigureAwait(false);
        return TryBeginAttempt(address, out var attempt) ? attempt : null;
    }

    // Reads (hits 0) or adds to the nodes' count and keeps it on the address's entry for the synchronous checks.
    private async ValueTask CountSharedAsync(IPAddress key, long hits, CancellationToken cancellationToken)
    {
        long count;
        try
        {
            count = await _shared!.CountInSlidingWindowAsync("failures:" + key.ToString(), _window, hits, cancellationToken).ConfigureAwait(false);
        }
        catch (StateUnavailableException)
        {
            return; // counters fall back to local counts themselves; this only guards a store that throws instead
        }
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (count == 0 && !_entries.ContainsKey(key)) return;
            var entry = GetOrAdd(key, now);
            entry.SharedFailures = count;
            entry.SharedAt = now;
        }
    }

    /// <summary>Attempts reserved and not yet ended, for <paramref name="address"/> (for tests and metrics).</summary>
    internal int InProgress(IPAddress address)
    {
        lock (_lock) return _entries.TryGetValue(Key(address), out var entry) ? entry.InProgress : 0;
    }

    /// <summary>Counts one failed attempt (bad credentials or a malformed response) against the address, without a
    /// reservation (an attempt that began with <see cref="TryBeginAttempt"/> ends with <see cref="AuthAttempt.Fail"/>).</summary>
    public void RecordFailure(IPAddress address)
    {
        var now = _time.GetUtcNow();
        lock (_lock) AddFailure(GetOrAdd(Key(address), now), now);
    }

    // Called by AuthAttempt: the reservation becomes a recorded failure, or is given back.
    private void End(IPAddress key, bool failed, bool succeeded)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            // The entry cannot have been dropped: one with attempts in progress is always live.
            if (!_entries.TryGetValue(key, out var entry)) return;
            entry.InProgress--;
            if (failed) AddFailure(entry, now);
            else if (succeeded) entry.Consecutive = 0;
            if (entry.InProgress == 0 && entry.Failures.Count == 0 && entry.Consecutive == 0) _entries.Remove(key);
        }
    }

    // Called under the lock.
    private Entry GetOrAdd(IPAddress key, DateTimeOffset now)
    {
        if (TryGetLive(key, out var entry)) return entry;
        if (_entries.Count >= SweepThreshold) Sweep(now);
        entry = new Entry();
        _entries[key] = entry;
        return entry;
    }

    // Called under the lock.
    private void AddFailure(Entry entry, DateTimeOffset now)
    {
        Expire(entry, now);
        entry.Failures.Enqueue(now);
        // Only the newest failures matter for the block; older ones would expire first anyway.
        while (entry.Failures.Count > _maxFailures) entry.Failures.Dequeue();
        entry.Consecutive++;
        entry.LastFailure = now;
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

    /// <summary>True when the address has <c>Auth:MaxFailuresPerIp</c> recorded failures within <c>Auth:FailureWindow</c>:
    /// AUTH then answers 454 4.7.0 without checking credentials, and a session that just failed is closed. Attempts in
    /// progress do not count here (they do in <see cref="TryBeginAttempt"/>).</summary>
    public bool IsBlocked(IPAddress address)
    {
        lock (_lock)
        {
            if (!TryGetLive(Key(address), out var entry)) return false;
            var now = _time.GetUtcNow();
            Expire(entry, now);
            return Failures(entry, now) >= _maxFailures;
        }
    }

    // Called under the lock; drops an entry whose newest failure is older than the window and that has no attempt in progress.
    private bool TryGetLive(IPAddress key, out Entry entry)
    {
        if (!_entries.TryGetValue(key, out entry!)) return false;
        var now = _time.GetUtcNow();
        if (entry.InProgress > 0 || now - entry.LastFailure < _window || HasSharedFailures(entry, now)) return true;
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
            if (entry.InProgress == 0 && now - entry.LastFailure >= _window && !HasSharedFailures(entry, now)) _entries.Remove(key);
    }

    // The failures that count: this node's within the window, or all nodes' as last read, whichever is more. The
    // nodes' count is used for one window after it was read; it can only have dropped since, so this errs on blocking.
    private long Failures(Entry entry, DateTimeOffset now) =>
        HasSharedFailures(entry, now) ? Math.Max(entry.Failures.Count, entry.SharedFailures) : entry.Failures.Count;

    private bool HasSharedFailures(Entry entry, DateTimeOffset now) => entry.SharedFailures > 0 && now - entry.SharedAt < _window;

    internal static IPAddress Key(IPAddress address) => Receiver.ClientAddress.LimitKey(address);

    /// <summary>One reserved attempt: ends exactly once, as a failure, a success, or (disposed first) a release.</summary>
    public sealed class AuthAttempt : IDisposable
    {
        private readonly AuthFailureLimiter _limiter;
        private readonly IPAddress _key;
        private int _ended;

        internal AuthAttempt(AuthFailureLimiter limiter, IPAddress key)
        {
            _limiter = limiter;
            _key = key;
        }

        /// <summary>The attempt failed: the reservation becomes a recorded failure.</summary>
        public void Fail() { if (Interlocked.Exchange(ref _ended, 1) == 0) _limiter.End(_key, failed: true, succeeded: false); }

        /// <summary>As <see cref="Fail"/>, and counts the failure for every node sharing the state store.</summary>
        public async ValueTask FailAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0) return;
            _limiter.End(_key, failed: true, succeeded: false);
            if (_limiter._shared is not null) await _limiter.CountSharedAsync(_key, 1, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>The attempt succeeded: the reservation is released and the delay reset (earlier failures still count).</summary>
        public void Succeed() { if (Interlocked.Exchange(ref _ended, 1) == 0) _limiter.End(_key, failed: false, succeeded: true); }

        /// <summary>Releases the reservation unless the attempt already ended (a cancelled exchange, a client that left).</summary>
        public void Dispose() { if (Interlocked.Exchange(ref _ended, 1) == 0) _limiter.End(_key, failed: false, succeeded: false); }
    }

    private sealed class Entry
    {
        public Queue<DateTimeOffset> Failures { get; } = new();
        public int Consecutive { get; set; }
        public int InProgress { get; set; }
        public DateTimeOffset LastFailure { get; set; }
        public long SharedFailures { get; set; }
        public DateTimeOffset SharedAt { get; set; }
    }
}
