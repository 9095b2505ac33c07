// The pipeline and the runaway guard together: an out-of-service owner is never called, a call that overran is
// reported only while it still runs, other owners go on.
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Containment;
using Mta.Testing;

namespace Mta.Engine.Tests.Extensibility.Containment;

public sealed class HookPipelineContainmentTests : IDisposable
{
    private readonly HookContainment _guard = new(new HookContainmentOptions(), TimeProvider.System, NullLogger<HookContainment>.Instance);
    private readonly HookPipeline _pipeline;

    public HookPipelineContainmentTests()
        => _pipeline = new HookPipeline(NullLogger<HookPipeline>.Instance, TimeSpan.FromSeconds(30), _guard);

    private static HeloContext Helo(string session = "s1") => new(new FakeSession { SessionId = session }, "client.test");

    [Fact]
    public async Task An_owner_out_of_service_is_not_called_and_its_hook_gets_the_failure_reply()
    {
        var calls = 0;
        _pipeline.ForOwner("plugin:runaway", 0).Register<HeloContext>("runaway", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(HookResult.Continue);
        });
        for (var i = 0; i < 3; i++) _guard.Abandoned("plugin:runaway", nameof(HeloContext), "s0", new TaskCompletionSource().Task);

        var outcome = await _pipeline.RunAsync(Helo(), TestContext.Current.CancellationToken);

        Assert.Equal(0, calls);
        Assert.True(outcome.Failed);
        Assert.Equal(HookPipeline.LocalPolicyError, outcome.Result);
        Assert.Equal("runaway", outcome.HandlerName);
    }

    [Fact]
    public async Task Other_owners_and_code_handlers_keyed_by_name_are_not_affected()
    {
        var calls = 0;
        _pipeline.Register<HeloContext>("code-check", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(HookResult.Continue);
        });
        _pipeline.ForOwner("plugin:fine", 0).Register<HeloContext>("fine", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(HookResult.Continue);
        });
        for (var i = 0; i < 3; i++) _guard.Abandoned("plugin:runaway", nameof(HeloContext), null, new TaskCompletionSource().Task);

        var outcome = await _pipeline.RunAsync(Helo(), TestContext.Current.CancellationToken);

        Assert.Equal(2, calls);
        Assert.True(outcome.IsContinue);
        Assert.False(_guard.IsOutOfService("code-check"));
    }

    [Fact]
    public async Task A_handler_that_overruns_and_keeps_running_is_reported_under_its_owner_with_the_session()
    {
        var pipeline = new HookPipeline(NullLogger<HookPipeline>.Instance, TimeSpan.FromSeconds(30), _guard);
        var never = new TaskCompletionSource<HookResult>();
        // Ignores its token: the call stays running after the budget.
        pipeline.ForOwner("script:spins", 1000, TimeSpan.FromMilliseconds(50)).Register<HeloContext>("script:spins",
            (_, _) => new ValueTask<HookResult>(never.Task));

        var outcome = await pipeline.RunAsync(Helo("s42"), TestContext.Current.CancellationToken);

        Assert.True(outcome.Failed);
        Assert.Equal(1, _guard.AbandonedRunning("script:spins"));
        never.SetResult(HookResult.Continue);
        Assert.Equal(0, _guard.AbandonedRunning("script:spins"));
    }

    [Fact]
    public async Task A_handler_that_honours_its_token_is_not_counted()
    {
        _pipeline.ForOwner("plugin:polite", 0, TimeSpan.FromMilliseconds(50)).Register<HeloContext>("polite",
            async (_, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return HookResult.Continue;
            });

        var outcome = await _pipeline.RunAsync(Helo(), TestContext.Current.CancellationToken);

        Assert.True(outcome.Failed);
        Assert.Equal(0, _guard.AbandonedRunning("plugin:polite"));
        Assert.False(_guard.IsOutOfService("plugin:polite"));
    }

    public void Dispose() => _guard.Dispose();
}
