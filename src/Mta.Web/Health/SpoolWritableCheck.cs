// Ready only while the spool takes a write and an fsync: a 250 needs both, so a full or read-only disk is "not ready".
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mta.Engine.Status;

namespace Mta.Web.Health;

/// <summary>The engine's <see cref="SpoolWritableProbe"/> as a health check; the probe is shared with the cluster
/// heartbeat, so both read one answer a second.</summary>
internal sealed class SpoolWritableCheck(SpoolWritableProbe probe) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (writable, description) = await probe.ProbeAsync(cancellationToken);
        return writable ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description);
    }
}
