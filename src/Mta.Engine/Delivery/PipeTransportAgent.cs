// The pipe transport agent: recipients routed to a configured transport are handed, one at a time, to its command.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers <see cref="RouteKind.Pipe"/> routes: the route's target names a transport of <c>Transports:Pipes</c>, whose
/// command runs once per recipient (as Postfix's pipe(8) with <c>maxrecipients=1</c>, so each recipient gets its own
/// exit status) through <see cref="PipeDelivery"/>, as the transport's <c>User</c> when the server runs as root, within
/// its time limit. An unknown transport name (a route hook's typo, or a transport removed from the config while mail
/// waited for it) defers with 4.3.5, as Postfix does for a missing transport, so nothing is lost while it is fixed.
/// </summary>
internal sealed partial class PipeTransportAgent(PipeDelivery pipe, MtaOptions options, UnixAccounts accounts, ILogger<PipeTransportAgent> logger)
    : IDeliveryAgent
{
    private readonly ILogger _logger = logger;

    public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = request.Route.Target;
        if (!options.Transports.Pipes.TryGetValue(name, out var transport))
        {
            LogUnknown(_logger, request.Message.QueueId, name);
            var unknown = DeliveryOutcome.Deferred("4.3.5", $"4.3.5 no pipe transport named '{name}' (Transports:Pipes)");
            return ValueTask.FromResult(new DeliveryResult(request.Recipients.Select(_ => unknown).ToArray()));
        }
        // Looked up per message: the account may be created or changed while the server runs.
        var account = accounts.ByName(transport.User);
        if (account is null && accounts.RunsAsRoot)
        {
            var missing = DeliveryOutcome.Deferred("4.3.5", $"4.3.5 pipe transport '{name}': no account named '{transport.User}'");
            return ValueTask.FromResult(new DeliveryResult(request.Recipients.Select(_ => missing).ToArray()));
        }
        var limit = transport.TimeLimit ?? options.Transports.CommandTimeLimit;
        return PerRecipient.DeliverEachAsync(request,
            (recipient, ct) => pipe.PipeAsync(transport.Command, account, request.Message, recipient, limit, ct), cancellationToken);
    }

    [LoggerMessage(EventId = LogEvents.LocalTargets.PipeTransportUnknown, Level = LogLevel.Warning,
        Message = "{QueueId}: no pipe transport named {Transport}; deferred")]
    private static partial void LogUnknown(ILogger logger, string queueId, string transport);
}
