// TerminalRegistry: sinks that throw, block, are slow or inactive are "no", the rest still deliver; plugin sinks count; off means off.
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Terminal;

public sealed class TerminalRegistryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TerminalMessage Message = new(new SmtpAddress("alice", "example.test"), "hi", "hello");

    private static MtaOptions Options(bool enabled = true, TimeSpan? timeout = null)
    {
        var options = new MtaOptions();
        options.Terminal.Enabled = enabled;
        options.Terminal.SinkTimeout = timeout ?? TimeSpan.FromMilliseconds(300);
        return options;
    }

    private static TerminalRegistry Registry(MtaOptions options, ExtensionRegistry? extensions, ILogger<TerminalRegistry>? logger, params ITerminalSink[] sinks) =>
        new(options, sinks, extensions, logger ?? NullLogger<TerminalRegistry>.Instance);

    [Fact]
    public async Task An_active_sink_makes_the_user_active_and_gets_the_message()
    {
        var sink = new FakeSink("a", active: ["bob"]);
        var registry = Registry(Options(), null, null, sink);
        Assert.True(registry.Enabled);
        Assert.True(await registry.IsActiveAsync("bob", Ct));
        Assert.True(await registry.IsActiveAsync("BOB", Ct));   // users are lower-cased mailbox names
        Assert.False(await registry.IsActiveAsync("carol", Ct));
        Assert.True(await registry.DeliverAsync("bob", Message, Ct));
        Assert.Equal([("bob", Message)], sink.Delivered);
        Assert.False(await registry.DeliverAsync("carol", Message, Ct));
    }

    [Fact]
    public async Task Every_active_sink_gets_the_message_and_inactive_ones_are_not_asked_to_deliver()
    {
        var one = new FakeSink("one", active: ["bob"]);
        var two = new FakeSink("two", active: ["bob"]);
        var off = new FakeSink("off", active: []);
        var registry = Registry(Options(), null, null, one, off, two);
        Assert.True(await registry.DeliverAsync("bob", Message, Ct));
        Assert.Single(one.Delivered);
        Assert.Single(two.Delivered);
        Assert.Empty(off.Delivered);
    }

    [Fact]
    public async Task A_sink_that_says_active_but_fails_to_deliver_is_not_delivered()
    {
        var registry = Registry(Options(), null, null, new FakeSink("flaky", active: ["bob"]) { DeliverResult = false });
        Assert.True(await registry.IsActiveAsync("bob", Ct));
        Assert.False(await registry.DeliverAsync("bob", Message, Ct));
    }

    [Fact]
    public async Task A_throwing_sink_is_no_and_logged_by_name_and_the_others_still_work()
    {
        var log = new RecordingLogger<TerminalRegistry>();
        var good = new FakeSink("good", active: ["bob"]);
        var registry = Registry(Options(), null, log, new ThrowingSink(), good);
        Assert.True(await registry.IsActiveAsync("bob", Ct));
        Assert.True(await registry.DeliverAsync("bob", Message, Ct));
        Assert.Single(good.Delivered);
        Assert.False(await Registry(Options(), null, log, new ThrowingSink()).IsActiveAsync("bob", Ct));
        Assert.Contains(log.Lines, l => l.Contains("terminal sink thrower failed") && l.Contains("bob"));
    }

    [Fact]
    public async Task A_slow_sink_is_abandoned_after_the_timeout_and_counted_as_no()
    {
        var log = new RecordingLogger<TerminalRegistry>();
        var slow = new SlowSink(honoursCancellation: false);
        var registry = Registry(Options(timeout: TimeSpan.FromMilliseconds(200)), null, log, slow);
        var watch = Stopwatch.StartNew();
        Assert.False(await registry.IsActiveAsync("bob", Ct));
        Assert.False(await registry.DeliverAsync("bob", Message, Ct));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Contains(log.Lines, l => l.Contains("terminal sink slow took longer than 200 ms"));
        slow.Release();
    }

    [Fact]
    public async Task A_sink_that_blocks_its_thread_does_not_block_the_caller()
    {
        using var gate = new ManualResetEventSlim(false);
        var blocking = new BlockingSink(gate);
        var fast = new FakeSink("fast", active: ["bob"]);
        var registry = Registry(Options(timeout: TimeSpan.FromMilliseconds(200)), null, null, blocking, fast);
        var watch = Stopwatch.StartNew();
        // The fast sink answers yes at once: the blocked one is not waited for.
        Assert.True(await registry.IsActiveAsync("bob", Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.True(await registry.DeliverAsync("bob", Message, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
        gate.Set();
    }

    [Fact]
    public async Task IsActive_answers_yes_as_soon_as_one_sink_does()
    {
        var slow = new SlowSink(honoursCancellation: true);
        var registry = Registry(Options(timeout: TimeSpan.FromSeconds(30)), null, null, slow, new FakeSink("fast", active: ["bob"]));
        Assert.True(await registry.IsActiveAsync("bob", Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        slow.Release();
    }

    [Fact]
    public async Task The_callers_cancellation_is_honoured()
    {
        var registry = Registry(Options(timeout: TimeSpan.FromSeconds(30)), null, null, new SlowSink(honoursCancellation: true));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await registry.IsActiveAsync("bob", cts.Token));
    }

    [Fact]
    public async Task Sinks_added_by_plugins_count_even_when_added_after_the_registry_was_made()
    {
        var extensions = new ExtensionRegistry();
        var registry = Registry(Options(), extensions, null, new FakeSink("builtin", active: []));
        Assert.False(await registry.IsActiveAsync("bob", Ct));
        var plugin = new FakeSink("plugin", active: ["bob"]);
        extensions.AddTerminalSink(plugin);
        Assert.Equal(["builtin", "plugin"], registry.Sinks.Select(s => s.Name));
        Assert.True(await registry.IsActiveAsync("bob", Ct));
        Assert.True(await registry.DeliverAsync("bob", Message, Ct));
        Assert.Single(plugin.Delivered);
    }

    [Fact]
    public async Task When_terminal_delivery_is_off_no_sink_is_asked()
    {
        var sink = new FakeSink("a", active: ["bob"]);
        var registry = Registry(Options(enabled: false), null, null, sink);
        Assert.False(registry.Enabled);
        Assert.False(await registry.IsActiveAsync("bob", Ct));
        Assert.False(await registry.DeliverAsync("bob", Message, Ct));
        Assert.Equal(0, sink.Calls);
    }

    [Fact]
    public async Task No_sinks_means_nobody_is_active()
    {
        var registry = Registry(Options(), new ExtensionRegistry(), null);
        Assert.False(await registry.IsActiveAsync("bob", Ct));
        Assert.False(await registry.DeliverAsync("bob", Message, Ct));
    }

    private sealed class FakeSink(string name, string[] active) : ITerminalSink
    {
        private int _calls;
        public string Name => name;
        public bool DeliverResult { get; init; } = true;
        public List<(string User, TerminalMessage Message)> Delivered { get; } = [];
        public int Calls => Volatile.Read(ref _calls);

        public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return ValueTask.FromResult(active.Contains(user));
        }

        public ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            lock (Delivered) Delivered.Add((user, message));
            return ValueTask.FromResult(DeliverResult);
        }
    }

    private sealed class ThrowingSink : ITerminalSink
    {
        public string Name => "thrower";
        public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken) => throw new InvalidOperationException("sink bug");
        public ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken) => throw new InvalidOperationException("sink bug");
    }

    // Waits until released, optionally ignoring its token (a sink that never returns on time).
    private sealed class SlowSink(bool honoursCancellation) : ITerminalSink
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public string Name => "slow";
        public void Release() => _release.TrySetResult();

        public async ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
        {
            await (honoursCancellation ? _release.Task.WaitAsync(cancellationToken) : _release.Task);
            return true;
        }

        public async ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
        {
            await (honoursCancellation ? _release.Task.WaitAsync(cancellationToken) : _release.Task);
            return true;
        }
    }

    // Blocks the calling thread before returning a ValueTask: the worst a plugin could do.
    private sealed class BlockingSink(ManualResetEventSlim gate) : ITerminalSink
    {
        public string Name => "blocking";
        public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
        {
            gate.Wait(TimeSpan.FromSeconds(30));
            return ValueTask.FromResult(true);
        }

        public ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
        {
            gate.Wait(TimeSpan.FromSeconds(30));
            return ValueTask.FromResult(true);
        }
    }
}

/// <summary>Keeps formatted log lines for assertions.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get { lock (_lines) return [.. _lines]; }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add($"{logLevel} {eventId.Id} {formatter(state, exception)}");
    }
}
