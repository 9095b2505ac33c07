// A runaway script (a busy loop that ignores its token) hit again and again: after HookContainment:MaxAbandoned of its
// calls still run it is taken out of service, later calls get 451 without running it, and other sessions are served.
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Containment;
using Mta.Testing;

namespace Mta.Scripts.Tests;

public sealed class ContainmentTests : IDisposable
{
    private const string Owner = "script:runaway";
    private readonly ScriptFolder _folder = new();
    // Outside the scripts folder: creating it ends the busy loops (a test run must not keep cores busy for ever).
    private readonly string _stopFile = Path.Combine(Path.GetTempPath(), "mta-runaway-stop-" + Guid.NewGuid().ToString("n")[..12]);

    /// <summary>Spins on RCPT TO:&lt;spin@...&gt; without awaiting or looking at its token, until the stop file exists.</summary>
    private string RunawayScript => $$"""
        var stop = @"{{_stopFile}}";
        On<RcptContext>(ctx =>
        {
            if (ctx.Recipient.Address.LocalPart != "spin") return HookResult.Continue;
            while (!File.Exists(stop)) { }
            return HookResult.Continue;
        });
        """;

    private const string FixedScript = "On<RcptContext>(ctx => HookResult.Continue);\n";

    /// <summary>Legitimate recipients (user*) are decided by a handler in code, which runs before scripts.</summary>
    private static void AcceptUsers(IHookRegistrar hooks)
        => hooks.Register<RcptContext>("users", (ctx, _) => ValueTask.FromResult(
            ctx.Recipient.Address.LocalPart.StartsWith("user", StringComparison.Ordinal) ? HookResult.Accept() : HookResult.Continue));

    private Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null)
    {
        _folder.Write("runaway", RunawayScript);
        return Scripting.StartAsync(_folder, watch: true, timeout: TimeSpan.FromMilliseconds(300), configure: configure, hooks: AcceptUsers);
    }

    [Fact]
    public async Task A_runaway_hit_50_times_is_taken_out_of_service_after_MaxAbandoned_and_other_sessions_get_their_250s()
    {
        await using var server = await StartAsync();
        var guard = server.Services.GetRequiredService<HookContainment>();
        using var metrics = new HookMetrics(guard.Meter);

        using var stopLegitimate = new CancellationTokenSource();
        var legitimate = Enumerable.Range(0, 4).Select(worker => LegitimateSessionsAsync(server, worker, stopLegitimate.Token)).ToArray();

        for (var hit = 0; hit < 50; hit++)
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        await stopLegitimate.CancelAsync();
        var transactions = await Task.WhenAll(legitimate);
        Assert.All(transactions, count => Assert.True(count > 0, "every legitimate worker completed transactions meanwhile"));

        // Exactly MaxAbandoned calls ran: the 47 later ones were answered without running the script.
        Assert.True(guard.IsOutOfService(Owner));
        Assert.Equal(3, guard.AbandonedRunning(Owner));
        Assert.Equal(3, metrics.Total(HookContainment.AbandonedInstrument));
        Assert.Equal(3, metrics.Total(HookContainment.AbandonedRunningInstrument));
        Assert.Equal(1, metrics.Total(HookContainment.OutOfServiceInstrument));
        Assert.Equal(Owner, metrics.LastHandler);

        // The loops end: the metric comes down, but the script stays out of service until it is saved again.
        await File.WriteAllTextAsync(_stopFile, "");
        await Conditions.WaitUntilAsync(() => metrics.Total(HookContainment.AbandonedRunningInstrument) == 0, "the abandoned calls ended");
        Assert.Equal(0, guard.AbandonedRunning(Owner));
        Assert.True(guard.IsOutOfService(Owner));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        }

        Scripting.Rewrite(Path.Combine(_folder.Path, "runaway.csx"), FixedScript);
        await server.WaitForGenerationAsync("runaway", 2);
        Assert.False(guard.IsOutOfService(Owner));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 250);
        }
        Assert.Equal(3, metrics.Total(HookContainment.AbandonedInstrument));
    }

    [Fact]
    public async Task A_server_reload_puts_the_runaway_back_in_service_and_its_next_call_runs()
    {
        await using var server = await StartAsync(o => o.HookContainment.MaxAbandoned = 1);
        var guard = server.Services.GetRequiredService<HookContainment>();
        using var metrics = new HookMetrics(guard.Meter);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        Assert.True(guard.IsOutOfService(Owner));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        Assert.Equal(1, metrics.Total(HookContainment.AbandonedInstrument));

        var reload = Assert.Single(server.Services.GetServices<IReloadable>(), r => r.Name == "hook containment");
        reload.Reload(server.Options);
        Assert.False(guard.IsOutOfService(Owner));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        Assert.Equal(2, metrics.Total(HookContainment.AbandonedInstrument));
        Assert.True(guard.IsOutOfService(Owner));
    }

    [Fact]
    public async Task With_containment_off_every_hit_runs_the_handler()
    {
        await using var server = await StartAsync(o => o.HookContainment.Enabled = false);
        var guard = server.Services.GetRequiredService<HookContainment>();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        for (var hit = 0; hit < 5; hit++) SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spin@example.test>"), 451, "4.3.0");
        Assert.False(guard.IsOutOfService(Owner));
        Assert.Equal(5, guard.AbandonedRunning(Owner));
    }

    /// <summary>Whole transactions to accepted users, each reply checked, until stopped; returns how many completed.</summary>
    private static async Task<int> LegitimateSessionsAsync(MtaTestServer server, int worker, CancellationToken stop)
    {
        var completed = 0;
        while (!stop.IsCancellationRequested || completed == 0)
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c, $"worker{worker}.test");
            var reply = await SmtpAssert.TransactionAsync(c, "sender@remote.test", [$"user{worker}@example.test"],
                $"Subject: legitimate {completed}\r\n\r\nbody\r\n");
            SmtpAssert.Reply(reply, 250);
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
            completed++;
        }
        return completed;
    }

    public void Dispose()
    {
        // Whatever happened above, no loop outlives the test.
        try { File.WriteAllText(_stopFile, ""); } catch (IOException) { }
        _folder.Dispose();
    }

    /// <summary>Sums each hook instrument's measurements from one server's meter.</summary>
    private sealed class HookMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _totals = [];
        private string? _lastHandler;

        public HookMetrics(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter)) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                lock (_totals)
                {
                    _totals[instrument.Name] = _totals.GetValueOrDefault(instrument.Name) + value;
                    foreach (var tag in tags)
                        if (tag.Key == HookContainment.HandlerTag) _lastHandler = tag.Value as string;
                }
            });
            _listener.Start();
        }

        public long Total(string instrument)
        {
            lock (_totals) return _totals.GetValueOrDefault(instrument);
        }

        public string? LastHandler
        {
            get { lock (_totals) return _lastHandler; }
        }

        public void Dispose() => _listener.Dispose();
    }
}
