// The queue's scheduling parts on their own: the backoff rule, the two-lane ready queue, the retry schedule's timer.
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;

namespace Mta.Engine.Tests.Queue;

public sealed class SchedulingTests
{
    private static readonly DateTimeOffset T0 = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static QueueOptions Postfix() => new()
    {
        MinRetryDelay = TimeSpan.FromMinutes(5),
        MaxRetryDelay = TimeSpan.FromSeconds(4000),
        MaxLifetime = TimeSpan.FromDays(5),
    };

    [Theory]
    [InlineData(0, 5)]           // young mail: the floor
    [InlineData(4, 5)]
    [InlineData(5, 5)]
    [InlineData(10, 10)]         // the delay is the message's age...
    [InlineData(40, 40)]
    [InlineData(66, 66)]
    [InlineData(67, 4000 / 60.0)] // ...up to the ceiling of 4000 s
    [InlineData(600, 4000 / 60.0)]
    public void Delay_is_the_age_clamped_between_min_and_max(double ageMinutes, double expectedMinutes)
    {
        var now = T0 + TimeSpan.FromMinutes(ageMinutes);
        var next = RetryPolicy.NextAttempt(T0, now, Postfix());
        Assert.Equal(TimeSpan.FromMinutes(expectedMinutes), next - now);
    }

    [Fact]
    public void Attempts_follow_Postfix_spacing_from_arrival()
    {
        var options = Postfix();
        var at = T0;
        var times = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            at = RetryPolicy.NextAttempt(T0, at, options);
            times.Add((at - T0).TotalMinutes);
        }
        // 5, 10, 20, 40, 80 (each wait is the age), then +66.7 min each (the ceiling).
        Assert.Equal([5, 10, 20, 40, 80], times.Take(5));
        Assert.All(times.Skip(5).Zip(times.Skip(4)), p => Assert.Equal(4000 / 60.0, p.First - p.Second, 6));
    }

    [Fact]
    public void No_attempt_is_scheduled_past_the_lifetime_and_expiry_is_exact()
    {
        var options = Postfix();
        var late = T0 + options.MaxLifetime - TimeSpan.FromMinutes(10);
        Assert.Equal(T0 + options.MaxLifetime, RetryPolicy.NextAttempt(T0, late, options));
        Assert.False(RetryPolicy.IsExpired(T0, T0 + options.MaxLifetime - TimeSpan.FromTicks(1), options));
        Assert.True(RetryPolicy.IsExpired(T0, T0 + options.MaxLifetime, options));
    }

    [Fact]
    public void Delay_warning_only_when_configured_and_old_enough()
    {
        var options = Postfix();
        Assert.False(RetryPolicy.IsDelayWarningDue(T0, T0 + TimeSpan.FromDays(4), options));
        options.DelayWarningAfter = TimeSpan.FromHours(4);
        Assert.False(RetryPolicy.IsDelayWarningDue(T0, T0 + TimeSpan.FromHours(3), options));
        Assert.True(RetryPolicy.IsDelayWarningDue(T0, T0 + TimeSpan.FromHours(4), options));
    }

    [Fact]
    public async Task Ready_queue_gives_retries_a_bounded_share_when_both_lanes_hold_work()
    {
        var queue = new ReadyQueue<string>(retryShare: 4);
        for (var i = 0; i < 1000; i++) queue.EnqueueRetry("retry");
        for (var i = 0; i < 100; i++) queue.EnqueueFresh("new");
        var taken = new List<string>();
        for (var i = 0; i < 100; i++) taken.Add(await queue.DequeueAsync(TestContext.Current.CancellationToken));
        // A backlog of 1000 retries takes one in four turns; new mail is not queued behind it.
        Assert.Equal(75, taken.Count(t => t == "new"));
        Assert.Equal(25, taken.Count(t => t == "retry"));
    }

    [Fact]
    public async Task Ready_queue_lane_alone_gets_every_turn()
    {
        var queue = new ReadyQueue<int>(retryShare: 4);
        for (var i = 0; i < 10; i++) queue.EnqueueRetry(i);
        var taken = new List<int>();
        for (var i = 0; i < 10; i++) taken.Add(await queue.DequeueAsync(TestContext.Current.CancellationToken));
        Assert.Equal(Enumerable.Range(0, 10), taken);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task Ready_queue_waits_until_work_arrives_and_honours_cancellation()
    {
        var queue = new ReadyQueue<int>(retryShare: 2);
        var take = queue.DequeueAsync(TestContext.Current.CancellationToken).AsTask();
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.False(take.IsCompleted);
        queue.EnqueueFresh(7);
        Assert.Equal(7, await take.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));

        using var cts = new CancellationTokenSource();
        var waiting = queue.DequeueAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task Ready_queue_under_concurrent_takers_hands_out_each_item_once()
    {
        var queue = new ReadyQueue<int>(retryShare: 3);
        var takers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var mine = new List<int>();
            for (var i = 0; i < 250; i++) mine.Add(await queue.DequeueAsync(TestContext.Current.CancellationToken));
            return mine;
        })).ToArray();
        for (var i = 0; i < 2000; i++)
        {
            if (i % 2 == 0) queue.EnqueueFresh(i);
            else queue.EnqueueRetry(i);
        }
        var all = (await Task.WhenAll(takers).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken)).SelectMany(x => x).ToList();
        Assert.Equal(Enumerable.Range(0, 2000), all.Order());
    }

    [Fact]
    public void Retry_schedule_fires_each_item_at_its_time_with_one_timer()
    {
        var time = new FakeTimeProvider(T0);
        var fired = new List<(string Item, DateTimeOffset At)>();
        using var schedule = new RetrySchedule<string>(time, item => fired.Add((item, time.GetUtcNow())));
        schedule.Add("b", T0 + TimeSpan.FromMinutes(10));
        schedule.Add("a", T0 + TimeSpan.FromMinutes(5));
        schedule.Add("c", T0 + TimeSpan.FromMinutes(10));
        Assert.Equal(3, schedule.Count);
        Assert.Equal(T0 + TimeSpan.FromMinutes(5), schedule.NextDue);

        time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Empty(fired);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([("a", T0 + TimeSpan.FromMinutes(5))], fired);
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(["a", "b", "c"], fired.Select(f => f.Item).Order());
        Assert.Equal(0, schedule.Count);
    }

    [Fact]
    public void Retry_schedule_rearms_for_an_earlier_item_and_hands_over_past_items_at_once()
    {
        var time = new FakeTimeProvider(T0);
        var fired = new List<string>();
        using var schedule = new RetrySchedule<string>(time, fired.Add);
        schedule.Add("late", T0 + TimeSpan.FromHours(1));
        schedule.Add("early", T0 + TimeSpan.FromMinutes(1));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["early"], fired);
        schedule.Add("overdue", T0 - TimeSpan.FromHours(1));
        time.Advance(TimeSpan.Zero);
        Assert.Equal(["early", "overdue"], fired);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(["early", "overdue", "late"], fired);
    }

    [Fact]
    public void Retry_schedule_remove_where_takes_items_out_whatever_their_time()
    {
        var time = new FakeTimeProvider(T0);
        var fired = new List<string>();
        using var schedule = new RetrySchedule<string>(time, fired.Add);
        schedule.Add("x1", T0 + TimeSpan.FromMinutes(1));
        schedule.Add("y", T0 + TimeSpan.FromMinutes(2));
        schedule.Add("x2", T0 + TimeSpan.FromDays(2));
        var removed = schedule.RemoveWhere(s => s.StartsWith('x'));
        Assert.Equal(["x1", "x2"], removed.Order());
        time.Advance(TimeSpan.FromDays(3));
        Assert.Equal(["y"], fired);
    }

    [Fact]
    public void Retry_schedule_of_far_future_items_rearms_in_steps()
    {
        var time = new FakeTimeProvider(T0);
        var fired = new List<string>();
        using var schedule = new RetrySchedule<string>(time, fired.Add);
        schedule.Add("in-60-days", T0 + TimeSpan.FromDays(60));
        time.Advance(TimeSpan.FromDays(30));
        Assert.Empty(fired);
        time.Advance(TimeSpan.FromDays(30));
        Assert.Equal(["in-60-days"], fired);
    }
}
