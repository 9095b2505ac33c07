// The runaway guard's counting: abandoned calls still running within the window, the limit, the way back in service.
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Containment;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Extensibility.Containment;

public sealed class HookContainmentTests : IDisposable
{
    private const string Script = "script:runaway";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggers;
    private readonly HookContainment _guard;
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _measured = [];

    public HookContainmentTests()
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        _guard = New(new HookContainmentOptions());
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _guard.Meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (_measured) _measured[instrument.Name] = _measured.GetValueOrDefault(instrument.Name) + value;
        });
        _listener.Start();
    }

    private HookContainment New(HookContainmentOptions options) => new(options, _time, _loggers.CreateLogger<HookContainment>());

    private long Measured(string instrument)
    {
        lock (_measured) return _measured.GetValueOrDefault(instrument);
    }

    /// <summary>A call that runs until the test ends it.</summary>
    private static TaskCompletionSource Spinning() => new();

    [Fact]
    public void Fewer_than_MaxAbandoned_running_calls_keep_the_handler_in_service()
    {
        _guard.Abandoned(Script, "RcptContext", "s1", Spinning().Task);
        _guard.Abandoned(Script, "RcptContext", "s2", Spinning().Task);
        Assert.False(_guard.IsOutOfService(Script));
        Assert.Equal(2, _guard.AbandonedRunning(Script));
        Assert.Equal(2, Measured(HookContainment.AbandonedRunningInstrument));
        Assert.Equal(2, Measured(HookContainment.AbandonedInstrument));
        Assert.Equal(0, Measured(HookContainment.OutOfServiceInstrument));
    }

    [Fact]
    public void The_third_running_call_takes_the_handler_out_of_service_with_an_error_naming_it()
    {
        for (var i = 1; i <= 3; i++) _guard.Abandoned(Script, "RcptContext", "s" + i, Spinning().Task);
        Assert.True(_guard.IsOutOfService(Script));
        Assert.False(_guard.IsOutOfService("plugin:other"));
        Assert.Equal(1, Measured(HookContainment.OutOfServiceInstrument));
        var error = Assert.Single(_logs.WithEvent(LogEvents.HookContainment.OutOfService));
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Contains(Script, error.Message, StringComparison.Ordinal);
        var abandoned = _logs.WithEvent(LogEvents.HookContainment.Abandoned);
        Assert.Equal(3, abandoned.Count);
        Assert.Contains(abandoned, l => l.Message.Contains("session s2", StringComparison.Ordinal));
        // Taken out once: a fourth call (a racing session) counts but does not take it out again.
        _guard.Abandoned(Script, "RcptContext", "s4", Spinning().Task);
        Assert.Equal(1, Measured(HookContainment.OutOfServiceInstrument));
    }

    [Fact]
    public void A_call_that_ended_no_longer_counts_and_its_end_is_logged_with_the_session()
    {
        var first = Spinning();
        _guard.Abandoned(Script, "RcptContext", "s1", first.Task);
        _guard.Abandoned(Script, "RcptContext", "s2", Spinning().Task);
        first.SetResult();
        Assert.Equal(1, _guard.AbandonedRunning(Script));
        Assert.Equal(1, Measured(HookContainment.AbandonedRunningInstrument));
        var ended = Assert.Single(_logs.WithEvent(LogEvents.HookContainment.AbandonedEnded));
        Assert.Contains("session s1", ended.Message, StringComparison.Ordinal);
        _guard.Abandoned(Script, "RcptContext", "s3", Spinning().Task);
        Assert.False(_guard.IsOutOfService(Script));
    }

    [Fact]
    public void Calls_abandoned_before_the_window_do_not_add_up_with_fresh_ones()
    {
        _guard.Abandoned(Script, "RcptContext", "s1", Spinning().Task);
        _guard.Abandoned(Script, "RcptContext", "s2", Spinning().Task);
        _time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        _guard.Abandoned(Script, "RcptContext", "s3", Spinning().Task);
        Assert.False(_guard.IsOutOfService(Script));
        // Still running, so still in the metric.
        Assert.Equal(3, Measured(HookContainment.AbandonedRunningInstrument));
        _time.Advance(TimeSpan.FromMinutes(9));
        _guard.Abandoned(Script, "RcptContext", "s4", Spinning().Task);
        _guard.Abandoned(Script, "RcptContext", "s5", Spinning().Task);
        Assert.True(_guard.IsOutOfService(Script));
    }

    [Fact]
    public void Handlers_are_counted_apart()
    {
        _guard.Abandoned(Script, "RcptContext", "s1", Spinning().Task);
        _guard.Abandoned(Script, "RcptContext", "s2", Spinning().Task);
        _guard.Abandoned("plugin:slow", "MailContext", "s3", Spinning().Task);
        Assert.False(_guard.IsOutOfService(Script));
        Assert.False(_guard.IsOutOfService("plugin:slow"));
        Assert.Equal(1, _guard.AbandonedRunning("plugin:slow"));
    }

    [Fact]
    public void Restore_puts_the_handler_back_with_a_clean_count_while_the_metric_keeps_the_old_calls()
    {
        var calls = Enumerable.Range(0, 3).Select(_ => Spinning()).ToArray();
        foreach (var call in calls) _guard.Abandoned(Script, "RcptContext", null, call.Task);
        Assert.True(_guard.IsOutOfService(Script));
        _guard.Restore(Script);
        Assert.False(_guard.IsOutOfService(Script));
        Assert.Equal(0, _guard.AbandonedRunning(Script));
        Assert.Single(_logs.WithEvent(LogEvents.HookContainment.BackInService));
        Assert.Equal(3, Measured(HookContainment.AbandonedRunningInstrument));
        // The old generation's calls ending do not touch the new count.
        _guard.Abandoned(Script, "RcptContext", null, Spinning().Task);
        foreach (var call in calls) call.SetResult();
        Assert.Equal(1, _guard.AbandonedRunning(Script));
        Assert.Equal(1, Measured(HookContainment.AbandonedRunningInstrument));
    }

    [Fact]
    public void RestoreAll_puts_every_handler_back()
    {
        for (var i = 0; i < 3; i++)
        {
            _guard.Abandoned(Script, "RcptContext", null, Spinning().Task);
            _guard.Abandoned("plugin:slow", "RcptContext", null, Spinning().Task);
        }
        _guard.RestoreAll();
        Assert.False(_guard.IsOutOfService(Script));
        Assert.False(_guard.IsOutOfService("plugin:slow"));
    }

    [Fact]
    public void Disabled_it_counts_and_logs_but_never_takes_a_handler_out_of_service()
    {
        using var guard = New(new HookContainmentOptions { Enabled = false });
        for (var i = 0; i < 10; i++) guard.Abandoned(Script, "RcptContext", null, Spinning().Task);
        Assert.False(guard.IsOutOfService(Script));
        Assert.Equal(10, guard.AbandonedRunning(Script));
    }

    [Fact]
    public void MaxAbandoned_1_takes_the_handler_out_at_its_first_runaway_call()
    {
        using var guard = New(new HookContainmentOptions { MaxAbandoned = 1 });
        guard.Abandoned(Script, "RcptContext", null, Spinning().Task);
        Assert.True(guard.IsOutOfService(Script));
    }

    [Fact]
    public async Task A_call_that_ends_within_the_grace_is_not_counted()
    {
        var cooperative = Spinning();
        var waiting = _guard.AbandonAsync(Script, "RcptContext", "s1", cooperative.Task);
        cooperative.SetResult();
        await waiting;
        Assert.Equal(0, _guard.AbandonedRunning(Script));
        Assert.Empty(_logs.WithEvent(LogEvents.HookContainment.Abandoned));
    }

    [Fact]
    public async Task A_call_still_running_after_the_grace_is_counted()
    {
        var waiting = _guard.AbandonAsync(Script, "RcptContext", "s1", Spinning().Task);
        _time.Advance(HookContainment.Grace);
        await waiting;
        Assert.Equal(1, _guard.AbandonedRunning(Script));
    }

    [Fact]
    public void The_options_bind_from_configuration_and_default_to_3_in_10_minutes()
    {
        var defaults = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.True(defaults.HookContainment.Enabled);
        Assert.Equal(3, defaults.HookContainment.MaxAbandoned);
        Assert.Equal(TimeSpan.FromMinutes(10), defaults.HookContainment.Window);
        Assert.Empty(MtaOptionsValidator.Validate(defaults));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HookContainment:Enabled"] = "false",
            ["HookContainment:MaxAbandoned"] = "5",
            ["HookContainment:Window"] = "00:02:00",
        }).Build();
        var bound = new MtaOptions { Listeners = [new ListenerOptions()] };
        configuration.Bind(bound, o => o.ErrorOnUnknownConfiguration = true);
        Assert.False(bound.HookContainment.Enabled);
        Assert.Equal(5, bound.HookContainment.MaxAbandoned);
        Assert.Equal(TimeSpan.FromMinutes(2), bound.HookContainment.Window);
    }

    [Theory]
    [InlineData(0, 600, "HookContainment:MaxAbandoned:")]
    [InlineData(1001, 600, "HookContainment:MaxAbandoned:")]
    [InlineData(3, 0, "HookContainment:Window:")]
    [InlineData(3, 86_401, "HookContainment:Window:")]
    public void Bad_values_are_reported_with_their_key(int maxAbandoned, int windowSeconds, string key)
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.HookContainment.MaxAbandoned = maxAbandoned;
        options.HookContainment.Window = TimeSpan.FromSeconds(windowSeconds);
        Assert.Contains(MtaOptionsValidator.Validate(options), e => e.StartsWith(key, StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _listener.Dispose();
        _guard.Dispose();
        _loggers.Dispose();
    }
}
