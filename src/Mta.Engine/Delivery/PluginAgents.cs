// Agent routes: hands recipients to the delivery agent a plugin registered under the route's name, and holds it to the contract.
using System.Globalization;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Extensibility;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers <see cref="RouteKind.Agent"/> routes through the plugin agent named by the route's target
/// (<see cref="ExtensionRegistry"/>). A plugin's mistakes defer mail, never bounce or lose it: a missing agent defers
/// (<c>4.3.5</c>; the plugin may be back after the operator fixes the config and restarts), and an agent that throws,
/// returns nothing or a result of the wrong length defers every recipient of the request (<c>4.3.0</c>). Each detail
/// gets the prefix <c>agent NAME: </c>; the plugin's status code, remote reply and host and success notice are kept,
/// except a status code that is not RFC 3463 or disagrees with the outcome, which becomes <c>2.0.0</c>, <c>4.0.0</c>
/// or <c>5.0.0</c>.
/// </summary>
internal sealed partial class PluginAgents(ExtensionRegistry extensions, ILogger<PluginAgents> logger) : IDeliveryAgent
{
    /// <summary>The deferral reason of a route to an agent nobody registered; {0} is the name.</summary>
    internal const string NotRegistered = "no delivery agent named '{0}' is registered";

    private readonly ILogger _logger = logger;

    public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = request.Route.Target;
        if (!extensions.TryGetDeliveryAgent(name, out var agent))
            return request.ForAll(DeliveryOutcome.Deferred("4.3.5", "4.3.5 " + string.Format(CultureInfo.InvariantCulture, NotRegistered, name)));
        DeliveryResult? result;
        try
        {
            result = await agent.DeliverAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // The contract says a throwing agent is a temporary failure: the plugin's bug must not bounce mail.
            LogAgentFailed(ex, request.Message.QueueId, string.Join(", ", request.Recipients.Select(r => $"<{r.Address}>")), name);
            return request.ForAll(DeliveryOutcome.Deferred("4.3.0", $"4.3.0 agent {name} failed: {ex.GetType().Name}: {ex.Message}"));
        }
        if (result?.Recipients is null) return request.ForAll(DeliveryOutcome.Deferred("4.3.0", $"4.3.0 agent {name} returned no outcome"));
        if (result.Recipients.Count != request.Recipients.Count)
        {
            return request.ForAll(DeliveryOutcome.Deferred("4.3.0",
                $"4.3.0 agent {name} returned {result.Recipients.Count} outcomes for {request.Recipients.Count} recipients"));
        }
        var outcomes = new DeliveryOutcome[result.Recipients.Count];
        for (var i = 0; i < outcomes.Length; i++)
            outcomes[i] = Checked(result.Recipients[i], name);
        return new DeliveryResult(outcomes);
    }

    /// <summary>The plugin's outcome with the detail prefixed and the status code made to agree with the status.</summary>
    internal static DeliveryOutcome Checked(DeliveryOutcome? outcome, string name)
    {
        if (outcome is null) return DeliveryOutcome.Deferred("4.3.0", $"4.3.0 agent {name} returned no outcome");
        // An undefined status (a cast number) is taken for the safe one: try again later.
        var kind = Enum.IsDefined(outcome.Status) ? outcome.Status : DeliveryStatus.Deferred;
        var status = DeliveryOutcome.StatusOrGeneric(outcome.EnhancedStatus, kind);
        return outcome with { Status = kind, EnhancedStatus = status, Detail = $"agent {name}: {outcome.Detail}" };
    }

    [LoggerMessage(EventId = LogEvents.Queue.AgentFailed, Level = LogLevel.Error, Message = "{QueueId}: delivery agent {Agent} threw on {Recipients}; will retry")]
    private partial void LogAgentFailed(Exception exception, string queueId, string recipients, string agent);
}
