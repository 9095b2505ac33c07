// The Redis state store against a private redis-server: each operation with expiry, two nodes sharing, agreement with
// the memory store, and an outage (killed server) that costs no session more than the timeout and heals by itself.
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.State;
using Mta.Engine.Extensibility.State.Redis;
using Mta.Engine.Redis;
using Mta.Testing;

namespace Mta.EndToEnd.Tests.State;

public sealed class RedisStateStoreTests
{
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task Each_operation_reaches_redis_with_its_expiry()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var node = await RedisNode.StartAsync(redis);
        var store = node.Store("script:ops");

        await store.SetAsync("greeting", new Greeting("hello", 3), TimeSpan.FromSeconds(30));
        Assert.Equal((true, new Greeting("hello", 3)), await store.TryGetAsync<Greeting>("greeting"));
        Assert.Equal("$26\r\n{\"Text\":\"hello\",\"Count\":3}", await redis.CommandAsync("GET", "mta:script:ops:greeting"));
        AssertTimeToLive(await redis.CommandAsync("PTTL", "mta:script:ops:greeting"), 29_000, 30_000);
        Assert.Equal((false, null), await store.TryGetAsync<Greeting>("absent"));

        Assert.True(await store.SetIfAbsentAsync("first", "a", TimeSpan.FromMilliseconds(400)));
        Assert.False(await store.SetIfAbsentAsync("first", "b", TimeSpan.FromMilliseconds(400)));
        Assert.Equal((true, "a"), await store.TryGetAsync<string>("first"));
        await Conditions.WaitUntilAsync(async () => !(await store.TryGetAsync<string>("first")).Found, "set-if-absent value expired",
            TimeSpan.FromSeconds(5));
        Assert.True(await store.SetIfAbsentAsync("first", "c", TimeSpan.FromSeconds(10)));

        Assert.True(await store.RemoveAsync("first"));
        Assert.False(await store.RemoveAsync("first"));

        // The counter's window starts at its creation: later increments do not push the expiry back.
        Assert.Equal(1, await store.IncrementAsync("hits", 1, TimeSpan.FromSeconds(20)));
        AssertTimeToLive(await redis.CommandAsync("PTTL", "mta:script:ops:hits"), 19_000, 20_000);
        await redis.CommandAsync("PEXPIRE", "mta:script:ops:hits", "5000");
        Assert.Equal(6, await store.IncrementAsync("hits", 5, TimeSpan.FromSeconds(20)));
        AssertTimeToLive(await redis.CommandAsync("PTTL", "mta:script:ops:hits"), 1, 5_000);
        Assert.Equal((true, 6L), await store.TryGetAsync<long>("hits"));
        Assert.Equal(1, await store.IncrementAsync("short", 1, TimeSpan.FromMilliseconds(300)));
        await Conditions.WaitUntilAsync(async () => await store.IncrementAsync("short", 0, TimeSpan.FromMilliseconds(300)) == 0,
            "counter expired", TimeSpan.FromSeconds(5));

        // The sliding window forgets each hit one window after it, and the key one window after the newest hit.
        var window = TimeSpan.FromMilliseconds(600);
        Assert.Equal(1, await store.CountInSlidingWindowAsync("window", window));
        Assert.Equal(3, await store.CountInSlidingWindowAsync("window", window, 2));
        Assert.Equal(3, await store.CountInSlidingWindowAsync("window", window, 0));
        Assert.Equal(":3", await redis.CommandAsync("ZCARD", "mta:script:ops:window"));
        AssertTimeToLive(await redis.CommandAsync("PTTL", "mta:script:ops:window"), 1, 600);
        await Task.Delay(window + TimeSpan.FromMilliseconds(100));
        Assert.Equal(":0", await redis.CommandAsync("EXISTS", "mta:script:ops:window"));
        Assert.Equal(1, await store.CountInSlidingWindowAsync("window", window));
    }

    [Fact]
    public async Task Two_nodes_share_counters_windows_and_first_sightings()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var first = await RedisNode.StartAsync(redis);
        await using var second = await RedisNode.StartAsync(redis);
        var a = first.Store("script:rate-limit");
        var b = second.Store("script:rate-limit");

        var window = TimeSpan.FromMinutes(1);
        for (var i = 0; i < 5; i++)
        {
            await a.IncrementAsync("connections:192.0.2.1", 1, window);
            await b.IncrementAsync("connections:192.0.2.1", 1, window);
        }
        Assert.Equal(11, await a.IncrementAsync("connections:192.0.2.1", 1, window));
        Assert.Equal(11, await b.IncrementAsync("connections:192.0.2.1", 0, window));

        var counts = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            (i % 2 == 0 ? a : b).CountInSlidingWindowAsync("messages:192.0.2.1", window).AsTask()));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), counts.Order());

        var sightings = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            (i % 2 == 0 ? a : b).SetIfAbsentAsync("triplet", i, TimeSpan.FromMinutes(5)).AsTask()));
        Assert.Single(sightings, set => set);

        // Another owner on the same nodes keeps its own keys.
        Assert.Equal(1, await first.Store("script:other").IncrementAsync("connections:192.0.2.1", 1, window));
    }

    [Fact]
    public async Task Memory_and_redis_stores_agree_on_one_sequence()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var node = await RedisNode.StartAsync(redis);
        var results = new List<string>[2];
        var stores = new IStateStore[] { new MemoryStateStore(), node.Store("plugin:agree") };
        for (var s = 0; s < stores.Length; s++)
        {
            var store = stores[s];
            var seen = results[s] = [];
            var minute = TimeSpan.FromMinutes(1);
            seen.Add($"get-missing {await store.TryGetAsync<int>("n")}");
            await store.SetAsync("n", 41);
            seen.Add($"get {await store.TryGetAsync<int>("n")}");
            seen.Add($"get-as-string {(await store.TryGetAsync<string>("n")).Found}");
            seen.Add($"increment-value {await store.IncrementAsync("n", 1, minute)}");
            seen.Add($"increment-new {await store.IncrementAsync("c", 2, minute)}");
            seen.Add($"increment-again {await store.IncrementAsync("c", -1, minute)}");
            seen.Add($"read-counter {await store.TryGetAsync<long>("c")}");
            seen.Add($"absent-first {await store.SetIfAbsentAsync("t", "x", minute)}");
            seen.Add($"absent-again {await store.SetIfAbsentAsync("t", "y", minute)}");
            seen.Add($"absent-value {await store.TryGetAsync<string>("t")}");
            seen.Add($"list {string.Join(",", (await store.TryGetAsync<string[]>("none")).Value ?? [])}");
            await store.SetAsync("list", new[] { "a", "b" }, minute);
            seen.Add($"list {string.Join(",", (await store.TryGetAsync<string[]>("list")).Value ?? [])}");
            seen.Add($"remove {await store.RemoveAsync("t")}");
            seen.Add($"remove-again {await store.RemoveAsync("t")}");
            seen.Add($"absent-after-remove {await store.SetIfAbsentAsync("t", "z", minute)}");
            for (var i = 0; i < 3; i++) seen.Add($"window {await store.CountInSlidingWindowAsync("w", minute)}");
            seen.Add($"window-peek {await store.CountInSlidingWindowAsync("w", minute, 0)}");
            seen.Add($"window-many {await store.CountInSlidingWindowAsync("w", minute, 4)}");
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public async Task An_outage_costs_no_call_more_than_the_timeout_is_logged_once_and_heals_without_a_restart()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var first = await RedisNode.StartAsync(redis);
        await using var second = await RedisNode.StartAsync(redis);
        var a = first.Store("script:rate-limit");
        var b = second.Store("script:rate-limit");
        var window = TimeSpan.FromMinutes(1);
        Assert.Equal(1, await a.IncrementAsync("shared", 1, window));
        Assert.Equal(2, await b.IncrementAsync("shared", 1, window));

        redis.Kill();

        // Every call answers within the timeout (plus scheduling slack on a loaded machine), with the fallback: counters
        // count on this node alone, reads and first sightings say the state is unavailable.
        var slowest = TimeSpan.Zero;
        var local = new List<long>();
        for (var i = 0; i < 30; i++)
        {
            var watch = Stopwatch.StartNew();
            local.Add(await a.IncrementAsync("shared", 1, window));
            await a.CountInSlidingWindowAsync("window", window);
            await Assert.ThrowsAsync<StateUnavailableException>(() => a.SetIfAbsentAsync("triplet", 1, window).AsTask());
            await Assert.ThrowsAsync<StateUnavailableException>(() => a.TryGetAsync<int>("triplet").AsTask());
            watch.Stop();
            if (watch.Elapsed > slowest) slowest = watch.Elapsed;
            await Task.Delay(20);
        }
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), local);
        Assert.True(slowest < OperationTimeout * 4 + TimeSpan.FromMilliseconds(500), $"slowest round of four calls took {slowest}");
        Assert.False(first.Resilience.IsAvailable);

        // Long enough for the breaker to half-open and fail its probe again: still one warning.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        await a.IncrementAsync("shared", 1, window);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        await a.IncrementAsync("shared", 1, window);
        Assert.Single(first.Log.Events, e => e.Id == 1740);
        Assert.DoesNotContain(first.Log.Events, e => e.Id == 1741);

        await redis.RestartAsync();

        // The multiplexer reconnects and the breaker closes on a probe: the two nodes share again, no restart.
        await Conditions.WaitUntilAsync(async () =>
        {
            var mine = await a.IncrementAsync("healed", 1, window);
            var theirs = await b.IncrementAsync("healed", 0, window);
            return mine == theirs && first.Resilience.IsAvailable && second.Resilience.IsAvailable;
        }, "both nodes sharing Redis again", TimeSpan.FromSeconds(20));
        Assert.True(await a.SetIfAbsentAsync("triplet", 1, window));
        Assert.False(await b.SetIfAbsentAsync("triplet", 2, window));
        Assert.Single(first.Log.Events, e => e.Id == 1740);
        Assert.Single(first.Log.Events, e => e.Id == 1741);
    }

    [Fact]
    public async Task A_hung_server_costs_each_call_at_most_the_timeout_until_the_breaker_opens_then_nothing()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var node = await RedisNode.StartAsync(redis);
        var store = node.Store("script:rate-limit");
        var window = TimeSpan.FromMinutes(1);
        Assert.Equal(1, await store.CountInSlidingWindowAsync("hung", window));

        // Connected, but nothing answers: only the timeout can end a call.
        redis.Pause();
        var durations = new List<TimeSpan>();
        for (var i = 0; i < 6; i++)
        {
            var watch = Stopwatch.StartNew();
            Assert.Equal(i + 1, await store.CountInSlidingWindowAsync("hung", window));
            durations.Add(watch.Elapsed);
        }
        Assert.All(durations, d => Assert.True(d < OperationTimeout + TimeSpan.FromMilliseconds(500), $"a call took {d}"));
        // The first calls wait out the timeout; once the breaker is open the rest fall back at once.
        Assert.True(durations[0] >= OperationTimeout - TimeSpan.FromMilliseconds(20), $"the first call took {durations[0]}");
        Assert.True(durations[^1] < TimeSpan.FromMilliseconds(100), $"a call with the breaker open took {durations[^1]}");
        Assert.False(node.Resilience.IsAvailable);
        Assert.Single(node.Log.Events, e => e.Id == 1740);

        redis.Resume();
        await Conditions.WaitUntilAsync(async () => await store.CountInSlidingWindowAsync("healed", window) == 1 && node.Resilience.IsAvailable,
            "the breaker closed after the server resumed", TimeSpan.FromSeconds(10));
        Assert.Single(node.Log.Events, e => e.Id == 1741);
    }

    [Fact]
    public async Task Synchronous_calls_are_served_from_this_node_and_say_so_once()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var node = await RedisNode.StartAsync(redis);
        var store = node.Store("script:legacy");

        Assert.Equal(1, store.Increment("n", 1, TimeSpan.FromMinutes(1)));
        Assert.Equal(2, store.Increment("n", 1, TimeSpan.FromMinutes(1)));
        store.Set("v", "x");
        Assert.True(store.TryGet<string>("v", out var v) && v == "x");

        Assert.Equal(":0", await redis.CommandAsync("EXISTS", "mta:script:legacy:n"));
        var warning = Assert.Single(node.Log.Events, e => e.Id == 1742);
        Assert.Contains("IncrementAsync", warning.Message);
    }

    private static void AssertTimeToLive(string reply, long atLeast, long atMost)
    {
        Assert.StartsWith(":", reply);
        var milliseconds = long.Parse(reply[1..]);
        Assert.InRange(milliseconds, atLeast, atMost);
    }

    private sealed record Greeting(string Text, int Count);
}

/// <summary>Records log events (id, level, message) from any logger it creates.</summary>
public sealed class LogRecorder : ILoggerFactory
{
    private readonly List<(int Id, LogLevel Level, string Message)> _events = [];

    public IReadOnlyList<(int Id, LogLevel Level, string Message)> Events { get { lock (_events) return _events.ToArray(); } }

    public ILogger<T> CreateLogger<T>() => new Logger<T>(this);

    public ILogger CreateLogger(string categoryName) => new Recorder(this);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Recorder(LogRecorder owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner._events) owner._events.Add((eventId.Id, logLevel, formatter(state, exception)));
        }
    }
}
