// MemoryStateStore: values, counters, time to live and eviction on a fake clock.
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Extensibility.State;

namespace Mta.Plugins.Tests;

public sealed class StateStoreTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Set_then_TryGet_returns_the_value_of_the_asked_type_only()
    {
        var store = new MemoryStateStore(_time);
        store.Set("k", "v");
        Assert.True(store.TryGet<string>("k", out var s));
        Assert.Equal("v", s);
        Assert.False(store.TryGet<int>("k", out _));
        Assert.False(store.TryGet<string>("missing", out _));
    }

    [Fact]
    public void A_value_with_a_time_to_live_disappears_after_it()
    {
        var store = new MemoryStateStore(_time);
        store.Set("k", 42, TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.True(store.TryGet<int>("k", out var v));
        Assert.Equal(42, v);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(store.TryGet<int>("k", out _));
    }

    [Fact]
    public void Remove_reports_whether_a_live_value_was_there()
    {
        var store = new MemoryStateStore(_time);
        store.Set("k", 1);
        Assert.True(store.Remove("k"));
        Assert.False(store.Remove("k"));
        store.Set("t", 1, TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(store.Remove("t"));
    }

    [Fact]
    public void Increment_starts_at_zero_and_its_window_starts_at_creation()
    {
        var store = new MemoryStateStore(_time);
        Assert.Equal(1, store.Increment("c", timeToLive: TimeSpan.FromMinutes(1)));
        _time.Advance(TimeSpan.FromSeconds(50));
        // A later time to live does not extend the window: fixed-window rate limiting.
        Assert.Equal(6, store.Increment("c", 5, TimeSpan.FromMinutes(1)));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, store.Increment("c", timeToLive: TimeSpan.FromMinutes(1)));
        Assert.True(store.TryGet<long>("c", out var now));
        Assert.Equal(1, now);
    }

    [Fact]
    public void Increment_without_a_time_to_live_keeps_counting()
    {
        var store = new MemoryStateStore(_time);
        for (var i = 0; i < 10; i++) store.Increment("c");
        _time.Advance(TimeSpan.FromDays(365));
        Assert.Equal(8, store.Increment("c", -2));
    }

    [Fact]
    public void Increment_continues_from_a_number_that_was_Set()
    {
        var store = new MemoryStateStore(_time);
        store.Set("c", 40);
        Assert.Equal(42, store.Increment("c", 2));
    }

    [Fact]
    public async Task Concurrent_increments_are_not_lost()
    {
        var store = new MemoryStateStore(_time);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++) store.Increment("c");
        })));
        Assert.True(store.TryGet<long>("c", out var total));
        Assert.Equal(80_000, total);
    }

    [Fact]
    public void Expired_entries_are_swept_so_the_store_cannot_grow_without_bound()
    {
        var store = new MemoryStateStore(_time);
        for (var i = 0; i < 1000; i++) store.Increment("ip:" + i, timeToLive: TimeSpan.FromSeconds(1));
        Assert.Equal(1000, store.Count);
        _time.Advance(MemoryStateStore.SweepInterval + TimeSpan.FromSeconds(1));
        // The next write after the sweep interval drops every expired entry.
        store.Increment("ip:new", timeToLive: TimeSpan.FromSeconds(1));
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public void A_non_positive_time_to_live_is_refused()
    {
        var store = new MemoryStateStore(_time);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.Set("k", 1, TimeSpan.Zero));
    }

    [Fact]
    public void The_provider_gives_each_owner_one_store()
    {
        var provider = new StateStoreProvider(_time);
        var a = provider.Get("script:a");
        Assert.Same(a, provider.Get("script:a"));
        Assert.NotSame(a, provider.Get("plugin:a"));
        a.Set("k", 1);
        Assert.False(provider.Get("plugin:a").TryGet<int>("k", out _));
    }

    [Fact]
    public async Task Set_if_absent_sets_once_until_the_value_expires()
    {
        var store = new MemoryStateStore(_time);
        Assert.True(await store.SetIfAbsentAsync("k", "first", TimeSpan.FromSeconds(10)));
        Assert.False(await store.SetIfAbsentAsync("k", "second", TimeSpan.FromSeconds(10)));
        Assert.Equal((true, "first"), await store.TryGetAsync<string>("k"));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await store.SetIfAbsentAsync("k", "third"));
        Assert.Equal((true, "third"), await store.TryGetAsync<string>("k"));
    }

    [Fact]
    public async Task Of_concurrent_set_if_absent_calls_exactly_one_wins()
    {
        var store = new MemoryStateStore(_time);
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => store.SetIfAbsentAsync("k", i).AsTask())));
        Assert.Single(results, set => set);
    }

    [Fact]
    public async Task The_sliding_window_forgets_each_hit_one_window_after_it()
    {
        var store = new MemoryStateStore(_time);
        var window = TimeSpan.FromSeconds(60);
        Assert.Equal(1, await store.CountInSlidingWindowAsync("w", window));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(3, await store.CountInSlidingWindowAsync("w", window, 2));
        _time.Advance(TimeSpan.FromSeconds(30));
        // The first hit is now a full window old; the two later ones still count (no reset at a fixed edge).
        Assert.Equal(2, await store.CountInSlidingWindowAsync("w", window, 0));
        Assert.True(store.TryGet<long>("w", out var count) && count == 2);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, await store.CountInSlidingWindowAsync("w", window, 0));
        store.Sweep();
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task Concurrent_sliding_window_hits_are_not_lost()
    {
        var store = new MemoryStateStore(_time);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++) store.CountInSlidingWindow("w", TimeSpan.FromMinutes(1));
        })));
        Assert.Equal(8000, store.CountInSlidingWindow("w", TimeSpan.FromMinutes(1), 0));
    }

    [Fact]
    public async Task A_store_written_before_the_async_members_gets_them_from_its_synchronous_ones()
    {
        IStateStore store = new SynchronousOnlyStore(new MemoryStateStore(_time));
        await store.SetAsync("k", 5);
        Assert.Equal((true, 5), await store.TryGetAsync<int>("k"));
        Assert.False(await store.SetIfAbsentAsync("k", 6));
        Assert.Equal(6, await store.IncrementAsync("k"));
        Assert.Equal(1, await store.CountInSlidingWindowAsync("w", TimeSpan.FromMinutes(1)));
        Assert.True(await store.RemoveAsync("k"));
    }

    // Implements only the members IStateStore had before the async ones, as a third-party store would.
    private sealed class SynchronousOnlyStore(MemoryStateStore inner) : IStateStore
    {
        public bool TryGet<T>(string key, out T? value) => inner.TryGet(key, out value);
        public void Set<T>(string key, T value, TimeSpan? timeToLive = null) => inner.Set(key, value, timeToLive);
        public bool Remove(string key) => inner.Remove(key);
        public long Increment(string key, long delta = 1, TimeSpan? timeToLive = null) => inner.Increment(key, delta, timeToLive);
    }
}
