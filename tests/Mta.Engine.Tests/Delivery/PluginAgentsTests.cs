// Agent routes: the plugin's agent is found by name and held to the contract (throw, nothing, wrong length, missing agent).
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;

namespace Mta.Engine.Tests.Delivery;

public sealed class PluginAgentsTests
{
    private readonly ExtensionRegistry _registry = new();
    private readonly PluginAgents _agents;
    private readonly TestMessage _message = new("a@list.test", "b@list.test");

    public PluginAgentsTests() => _agents = new PluginAgents(_registry, NullLogger<PluginAgents>.Instance);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<DeliveryResult> DeliverAsync(Func<DeliveryRequest, DeliveryResult?> agent)
    {
        _registry.AddDeliveryAgent("probe", new LambdaAgent(agent));
        return _agents.DeliverAsync(_message.To(RouteKind.Agent, "probe"), Ct).AsTask();
    }

    private static void AllDeferred(DeliveryResult result, string status, string detail) =>
        Assert.All(result.Recipients, o => Assert.Equal((DeliveryStatus.Deferred, status, detail), (o.Status, o.EnhancedStatus, o.Detail)));

    [Fact]
    public async Task Outcomes_keep_the_plugins_status_reply_host_and_notice_and_get_the_agent_prefix()
    {
        var result = await DeliverAsync(r => new DeliveryResult(
        [
            DeliveryOutcome.Delivered("stored") with { Notice = SuccessNotice.Expanded },
            DeliveryOutcome.Failed("5.1.1", "no such member") with { RemoteReply = "550 5.1.1 unknown", RemoteHost = "lmtp.test[192.0.2.1]" },
        ]));

        Assert.Equal(2, result.Recipients.Count);
        Assert.Equal(new DeliveryOutcome(DeliveryStatus.Delivered, "2.0.0", "agent probe: stored") { Notice = SuccessNotice.Expanded }, result.Recipients[0]);
        Assert.Equal(new DeliveryOutcome(DeliveryStatus.Failed, "5.1.1", "agent probe: no such member")
            { RemoteReply = "550 5.1.1 unknown", RemoteHost = "lmtp.test[192.0.2.1]" }, result.Recipients[1]);
    }

    [Fact]
    public async Task A_missing_agent_defers_with_4_3_5()
    {
        var result = await _agents.DeliverAsync(_message.To(RouteKind.Agent, "nowhere"), Ct);

        Assert.Equal(2, result.Recipients.Count);
        AllDeferred(result, "4.3.5", "4.3.5 no delivery agent named 'nowhere' is registered");
    }

    [Fact]
    public async Task An_agent_that_throws_defers_every_recipient_with_4_3_0()
    {
        var result = await DeliverAsync(_ => throw new InvalidOperationException("boom"));

        Assert.Equal(2, result.Recipients.Count);
        AllDeferred(result, "4.3.0", "4.3.0 agent probe failed: InvalidOperationException: boom");
    }

    [Fact]
    public async Task An_agent_that_returns_nothing_defers_every_recipient()
    {
        AllDeferred(await DeliverAsync(_ => null), "4.3.0", "4.3.0 agent probe returned no outcome");
    }

    [Fact]
    public async Task An_agent_that_returns_a_result_of_the_wrong_length_defers_every_recipient()
    {
        var result = await DeliverAsync(_ => new DeliveryResult([DeliveryOutcome.Delivered("only one")]));

        Assert.Equal(2, result.Recipients.Count);
        AllDeferred(result, "4.3.0", "4.3.0 agent probe returned 1 outcomes for 2 recipients");
    }

    [Fact]
    public async Task A_missing_outcome_in_the_list_defers_that_recipient_only()
    {
        var result = await DeliverAsync(_ => new DeliveryResult([DeliveryOutcome.Delivered("ok"), null!]));

        Assert.Equal(DeliveryStatus.Delivered, result.Recipients[0].Status);
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0", "4.3.0 agent probe returned no outcome"),
            (result.Recipients[1].Status, result.Recipients[1].EnhancedStatus, result.Recipients[1].Detail));
    }

    [Theory]
    [InlineData(DeliveryStatus.Delivered, "5.1.1", "2.0.0")] // a class that contradicts the status
    [InlineData(DeliveryStatus.Failed, "bogus", "5.0.0")]
    [InlineData(DeliveryStatus.Deferred, "4.2.2", "4.2.2")]
    [InlineData(DeliveryStatus.Deferred, "", "4.0.0")]
    [InlineData((DeliveryStatus)42, "5.1.1", "4.0.0")] // an undefined status is taken for a deferral
    public async Task A_status_code_that_is_not_rfc_3463_or_disagrees_with_the_outcome_is_replaced(DeliveryStatus status, string given, string expected)
    {
        var result = await DeliverAsync(r => r.ForAll(new DeliveryOutcome(status, given, "said so")));

        Assert.All(result.Recipients, o => Assert.Equal(expected, o.EnhancedStatus));
        Assert.All(result.Recipients, o => Assert.Equal(expected[0] switch { '2' => DeliveryStatus.Delivered, '5' => DeliveryStatus.Failed, _ => DeliveryStatus.Deferred }, o.Status));
    }

    [Fact]
    public async Task Cancellation_at_shutdown_is_not_a_failure_of_the_agent()
    {
        using var cts = new CancellationTokenSource();
        _registry.AddDeliveryAgent("probe", new LambdaAgent(_ =>
        {
            cts.Cancel();
            cts.Token.ThrowIfCancellationRequested();
            return null;
        }));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _agents.DeliverAsync(_message.To(RouteKind.Agent, "probe"), cts.Token).AsTask());
    }

    private sealed class LambdaAgent(Func<DeliveryRequest, DeliveryResult?> deliver) : IDeliveryAgent
    {
        public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(deliver(request)!);
    }
}
