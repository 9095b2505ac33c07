// The per-IP AUTH failure brake: doubling delay with a cap, block after the limit, expiry with the window.
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Auth;

public sealed class AuthFailureLimiterTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.7");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private AuthFailureLimiter Limiter(int maxFailures = 10, int windowMinutes = 15, int maxDelaySeconds = 8) =>
        new(new MtaOptions { Auth = new AuthOptions { MaxFailuresPerIp = maxFailures, FailureWindow = TimeSpan.FromMinutes(windowMinutes), MaxDelay = TimeSpan.FromSeconds(maxDelaySeconds) } }, _time);

    [Fact]
    public void The_delay_doubles_per_failure_up_to_the_cap()
    {
        var limiter = Limiter();
        var delays = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            delays.Add(limiter.DelayFor(Client).TotalSeconds);
            limiter.RecordFailure(Client);
        }
        Assert.Equal([0, 1, 2, 4, 8, 8, 8], delays);
    }

    [Fact]
    public void The_address_is_blocked_at_the_limit_and_free_again_after_the_window()
    {
        var limiter = Limiter(maxFailures: 3);
        for (var i = 0; i < 2; i++) limiter.RecordFailure(Client);
        Assert.False(limiter.IsBlocked(Client));
        limiter.RecordFailure(Client);
        Assert.True(limiter.IsBlocked(Client));
        Assert.False(limiter.IsBlocked(IPAddress.Parse("192.0.2.8")));

        _time.Advance(TimeSpan.FromMinutes(15));
        Assert.False(limiter.IsBlocked(Client));
        Assert.Equal(TimeSpan.Zero, limiter.DelayFor(Client));
    }

    [Fact]
    public void The_window_slides_old_failures_out_one_by_one()
    {
        var limiter = Limiter(maxFailures: 3, windowMinutes: 10);
        limiter.RecordFailure(Client);
        _time.Advance(TimeSpan.FromMinutes(6));
        limiter.RecordFailure(Client);
        limiter.RecordFailure(Client);
        Assert.True(limiter.IsBlocked(Client));
        _time.Advance(TimeSpan.FromMinutes(4)); // the first failure is now 10 minutes old
        Assert.False(limiter.IsBlocked(Client));
        Assert.Equal(TimeSpan.FromSeconds(4), limiter.DelayFor(Client)); // still three consecutive failures
    }

    [Fact]
    public void Success_resets_the_delay_but_not_the_block_count()
    {
        var limiter = Limiter(maxFailures: 4);
        for (var i = 0; i < 3; i++) limiter.RecordFailure(Client);
        limiter.RecordSuccess(Client);
        Assert.Equal(TimeSpan.Zero, limiter.DelayFor(Client));
        Assert.False(limiter.IsBlocked(Client));
        limiter.RecordFailure(Client);
        Assert.True(limiter.IsBlocked(Client));
    }

    [Fact]
    public void Ipv6_counts_per_64_and_mapped_ipv4_as_ipv4()
    {
        var limiter = Limiter(maxFailures: 2);
        limiter.RecordFailure(IPAddress.Parse("2001:db8:1:2::1"));
        limiter.RecordFailure(IPAddress.Parse("2001:db8:1:2:ffff::9"));
        Assert.True(limiter.IsBlocked(IPAddress.Parse("2001:db8:1:2::42")));
        Assert.False(limiter.IsBlocked(IPAddress.Parse("2001:db8:1:3::1")));

        limiter.RecordFailure(IPAddress.Parse("::ffff:192.0.2.7"));
        limiter.RecordFailure(Client);
        Assert.True(limiter.IsBlocked(Client));
    }

    [Fact]
    public void Expired_addresses_are_forgotten()
    {
        var limiter = Limiter();
        limiter.RecordFailure(Client);
        Assert.Equal(1, limiter.TrackedCount);
        _time.Advance(TimeSpan.FromMinutes(16));
        Assert.False(limiter.IsBlocked(Client));
        Assert.Equal(0, limiter.TrackedCount);
    }

    [Fact]
    public async Task Parallel_attempts_from_one_address_reserve_no_more_slots_than_the_limit()
    {
        var limiter = Limiter(maxFailures: 10);
        using var start = new Barrier(48);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 48).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(TestContext.Current.CancellationToken);
            return limiter.TryBeginAttempt(Client, out var attempt) ? attempt : null;
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        var begun = outcomes.Where(a => a is not null).ToList();
        Assert.Equal(10, begun.Count);
        Assert.Equal(10, limiter.InProgress(Client));
        // In progress is not yet blocked (no 421 for anyone), but no further attempt begins.
        Assert.False(limiter.IsBlocked(Client));
        Assert.False(limiter.TryBeginAttempt(Client, out _));

        foreach (var attempt in begun) attempt!.Fail();
        Assert.Equal(0, limiter.InProgress(Client));
        Assert.True(limiter.IsBlocked(Client));
        Assert.False(limiter.TryBeginAttempt(Client, out _));
    }

    [Fact]
    public void A_success_or_an_abort_gives_the_slot_back_and_a_failure_keeps_it()
    {
        var limiter = Limiter(maxFailures: 2);
        Assert.True(limiter.TryBeginAttempt(Client, out var first));
        Assert.True(limiter.TryBeginAttempt(Client, out var second));
        Assert.False(limiter.TryBeginAttempt(Client, out _));

        second.Succeed();
        second.Fail(); // an attempt ends once: this is ignored
        Assert.True(limiter.TryBeginAttempt(Client, out var third));
        third.Dispose();
        Assert.True(limiter.TryBeginAttempt(Client, out var fourth));
        first.Fail();
        first.Dispose();
        Assert.False(limiter.TryBeginAttempt(Client, out _));
        fourth.Fail();
        Assert.True(limiter.IsBlocked(Client));

        // The window expires the failures; the entry goes.
        _time.Advance(TimeSpan.FromMinutes(15));
        Assert.True(limiter.TryBeginAttempt(Client, out var later));
        later.Succeed();
        Assert.Equal(0, limiter.TrackedCount);
    }

    [Fact]
    public void A_failed_attempt_lengthens_the_delay_and_a_success_resets_it()
    {
        var limiter = Limiter();
        Assert.True(limiter.TryBeginAttempt(Client, out var attempt));
        Assert.Equal(TimeSpan.Zero, limiter.DelayFor(Client));
        attempt.Fail();
        Assert.True(limiter.TryBeginAttempt(Client, out attempt));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.DelayFor(Client));
        attempt.Succeed();
        Assert.Equal(TimeSpan.Zero, limiter.DelayFor(Client));
    }

    [Fact]
    public void Reservations_count_per_IPv4_address_and_per_IPv6_64()
    {
        var limiter = Limiter(maxFailures: 1);
        Assert.True(limiter.TryBeginAttempt(IPAddress.Parse("2001:db8:1:2::1"), out _));
        Assert.False(limiter.TryBeginAttempt(IPAddress.Parse("2001:db8:1:2:ffff::9"), out _));
        Assert.True(limiter.TryBeginAttempt(IPAddress.Parse("2001:db8:1:3::1"), out _));
        Assert.True(limiter.TryBeginAttempt(IPAddress.Parse("192.0.2.1"), out _));
        Assert.False(limiter.TryBeginAttempt(IPAddress.Parse("::ffff:192.0.2.1"), out _));
        Assert.True(limiter.TryBeginAttempt(IPAddress.Parse("192.0.2.2"), out _));
    }
}
