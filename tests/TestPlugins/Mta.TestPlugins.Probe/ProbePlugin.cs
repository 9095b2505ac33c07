// A test plugin whose behaviour the loader tests choose through its settings and the recipients they send to.
using System.Text;
using Microsoft.Extensions.Configuration;
using Mta.Abstractions;

namespace Mta.TestPlugins.Probe;

/// <summary>
/// RCPT handler "rcpt": <c>throw@...</c> throws, <c>hang@...</c> never returns (ignoring its token), <c>decide@...</c>
/// is rejected with <c>Settings:DecideText</c> (550 5.7.1), <c>accept@...</c> accepted ("accepted by NAME"). Route handler "route": recipients at <c>Settings:AgentDomain</c>
/// (default agent.test) go to the delivery agent <c>Settings:AgentName</c> (default memory), when <c>Settings:Agent</c> is true.
/// <c>Settings:RegisterThrows</c> makes Register throw after registering a handler.
/// </summary>
public sealed class ProbePlugin : IMtaPlugin
{
    public void Register(IPluginContext context)
    {
        var decideText = context.Settings["DecideText"] ?? "rejected by " + context.Name;
        context.Hooks.Register<RcptContext>("rcpt", async (rcpt, ct) =>
        {
            switch (rcpt.Recipient.Address.LocalPart.ToLowerInvariant())
            {
                case "throw":
                    throw new InvalidOperationException("probe handler failure");
                case "hang":
                    // Ignores the token on purpose: the pipeline must give up on it anyway.
                    await new TaskCompletionSource<bool>().Task;
                    return HookResult.Continue;
                case "decide":
                    return HookResult.Reject(decideText, 550, "5.7.1");
                case "accept":
                    return HookResult.Accept("accepted by " + context.Name);
                default:
                    context.State.Increment("rcpt-seen");
                    return HookResult.Continue;
            }
        });

        if (string.Equals(context.Settings["Agent"], "true", StringComparison.OrdinalIgnoreCase))
        {
            var domain = context.Settings["AgentDomain"] ?? "agent.test";
            var agentName = context.Settings["AgentName"] ?? "memory";
            context.Hooks.Register<RouteContext>("route", (route, ct) =>
            {
                if (!string.Equals(route.Recipient.Address.Domain, domain, StringComparison.OrdinalIgnoreCase))
                    return ValueTask.FromResult(HookResult.Continue);
                route.RouteTo(new Route(RouteKind.Agent, agentName));
                return ValueTask.FromResult(HookResult.Accept());
            });
            context.AddDeliveryAgent(agentName, new MemoryAgent(context, context.Settings["ResubmitTo"] ?? "copy@example.test"));
        }

        if (string.Equals(context.Settings["RegisterThrows"], "true", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException("probe Register failure");
    }

    /// <summary>Records each delivery in the plugin's state store; <c>resubmit@</c> also submits a new message; <c>agentthrows@</c>
    /// makes the whole call throw, <c>agentfails@</c> fails that recipient, <c>agentcode@</c> with a code, a remote reply and host.</summary>
    private sealed class MemoryAgent(IPluginContext context, string resubmitTo) : IDeliveryAgent
    {
        public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken ct)
        {
            var outcomes = new List<DeliveryOutcome>();
            foreach (var recipient in request.Recipients)
                outcomes.Add(await DeliverOneAsync(request.Message, recipient, ct));
            return new DeliveryResult(outcomes);
        }

        private async ValueTask<DeliveryOutcome> DeliverOneAsync(IQueuedMessage message, EnvelopeRecipient recipient, CancellationToken ct)
        {
            var local = recipient.Address.LocalPart.ToLowerInvariant();
            if (local == "agentthrows") throw new InvalidOperationException("probe agent failure");
            if (local == "agentfails") return DeliveryOutcome.Failed("probe agent refuses");
            if (local == "agentcode")
                return DeliveryOutcome.Failed("5.7.1", "probe agent refuses with a code") with { RemoteReply = "550 5.7.1 not wanted here", RemoteHost = "probe.test[192.0.2.1]" };
            var mime = await message.Content.GetMimeMessageAsync(ct);
            context.State.Set("delivered:" + recipient.Address, mime.Subject ?? "");
            context.State.Increment("deliveries");
            if (local == "resubmit")
            {
                var parts = resubmitTo.Split('@');
                var body = Encoding.ASCII.GetBytes(
                    $"From: <probe@agent.test>\r\nTo: <{resubmitTo}>\r\nSubject: resubmitted {mime.Subject}\r\n\r\nSubmitted by the probe agent.\r\n");
                var id = await context.Queue.SubmitAsync(new SmtpAddress("probe", "agent.test"),
                    [new EnvelopeRecipient(new SmtpAddress(parts[0], parts[1]))], body, ct);
                context.State.Set("resubmitted-as", id);
            }
            return DeliveryOutcome.Delivered("kept in memory");
        }
    }
}
