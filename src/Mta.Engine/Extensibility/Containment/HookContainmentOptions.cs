// HookContainment: when a script or plugin whose calls overran their budget and still run is taken out of service.
namespace Mta.Engine.Extensibility.Containment;

/// <summary>
/// A hook call that overruns its budget is abandoned: the client gets the failure reply at once, but the handler's
/// thread cannot be stopped and goes on running. When <see cref="MaxAbandoned"/> calls of one script or plugin,
/// abandoned within <see cref="Window"/>, are all still running, that script or plugin is taken out of service: its
/// hook calls get the failure reply without running it, until the script is saved again (a new generation) or the
/// server is reloaded (SIGHUP, <c>mta reload</c>). Otherwise every client retry would abandon one more thread.
/// </summary>
public sealed class HookContainmentOptions
{
    /// <summary>Take a handler out of service at all. Off, abandoned calls are still counted and logged. Defaults to true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Abandoned calls of one script or plugin, still running, at which it is taken out of service. Defaults to 3:
    /// one stuck call can be bad luck (a slow DNS server, a pause), three at once is a loop; 1 to 1000.</summary>
    public int MaxAbandoned { get; set; } = 3;

    /// <summary>How long an abandoned call counts towards <see cref="MaxAbandoned"/> while it still runs: calls stuck
    /// since long ago do not add up with a fresh one. Defaults to 10 minutes; 1 second to 1 day.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>Checks <see cref="HookContainmentOptions"/> (<c>HookContainment</c>).</summary>
public static class HookContainmentOptionsValidator
{
    /// <summary>Adds one message per problem, each starting with the key's path.</summary>
    public static void Validate(HookContainmentOptions options, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(errors);
        if (options.MaxAbandoned is < 1 or > 1000)
            errors.Add("HookContainment:MaxAbandoned: must be between 1 and 1000");
        if (options.Window < TimeSpan.FromSeconds(1) || options.Window > TimeSpan.FromDays(1))
            errors.Add("HookContainment:Window: must be between 1 second and 1 day");
    }
}
