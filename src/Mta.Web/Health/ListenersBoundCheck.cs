// Ready only once every configured SMTP listener is bound: before that a balancer would send clients to a closed port.
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;

namespace Mta.Web.Health;

internal sealed class ListenersBoundCheck(SmtpServer server, MtaOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var bound = server.BoundEndPoints;
        var wanted = options.Listeners.Count;
        return Task.FromResult(bound.Count >= wanted
            ? HealthCheckResult.Healthy($"{bound.Count} listener(s) bound: {string.Join(", ", bound)}")
            : HealthCheckResult.Unhealthy($"{bound.Count} of {wanted} listener(s) bound"));
    }
}
