// Turns a next hop into the ordered addresses to try: the seam between routing and the SMTP client.
namespace Mta.Engine.Outbound.Routing;

/// <summary>Finds the addresses to connect to for a <see cref="NextHop"/>.</summary>
public interface ITargetResolver
{
    /// <summary>The targets of <paramref name="hop"/>, best first. Never throws for name-service errors (they come
    /// back as <see cref="TargetResolutionStatus.NotFound"/> or <see cref="TargetResolutionStatus.TemporaryFailure"/>),
    /// only <see cref="OperationCanceledException"/> when <paramref name="ct"/> is cancelled.</summary>
    Task<TargetResolution> ResolveAsync(NextHop hop, CancellationToken ct);
}

/// <summary>What a resolution found.</summary>
public enum TargetResolutionStatus
{
    /// <summary>At least one address: <see cref="TargetResolution.Targets"/> is not empty.</summary>
    Found,
    /// <summary>The domain publishes a null MX (RFC 7505): it accepts no mail. Permanent: bounce.</summary>
    NullMx,
    /// <summary>The domain or host does not exist or has no usable address. Permanent: bounce.</summary>
    NotFound,
    /// <summary>The name service failed (SERVFAIL, timeout, refused). Try again later.</summary>
    TemporaryFailure,
}

/// <summary>The outcome of one resolution.</summary>
/// <param name="Status">Found, null MX, not found or temporary failure.</param>
/// <param name="Targets">The addresses to try in order (empty unless <see cref="TargetResolutionStatus.Found"/>).</param>
/// <param name="Detail">One line for logs and DSNs, in Postfix's words where it has them.</param>
public sealed record TargetResolution(TargetResolutionStatus Status, IReadOnlyList<SmtpTarget> Targets, string Detail);
