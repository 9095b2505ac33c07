// Checks the Control section (the control socket's limits), naming the offending key, as MtaOptionsValidator does for the rest.
namespace Mta.Engine.Configuration;

internal static class ControlOptionsValidator
{
    /// <summary>Adds one <c>Key:Path: why</c> message per problem of <see cref="MtaOptions.Control"/> to <paramref name="errors"/>.</summary>
    internal static void Validate(MtaOptions o, List<string> errors)
    {
        void Check(bool ok, string key, string why) { if (!ok) errors.Add($"{key}: {why}"); }

        var c = o.Control;
        if (c is null)
        {
            errors.Add("Control: must be an object");
            return;
        }
        Check(c.MaxRequestLineBytes is >= 1024 and <= 16 * 1024 * 1024, "Control:MaxRequestLineBytes", "must be between 1024 and 16777216");
        Check(c.IdleTimeout >= TimeSpan.FromSeconds(1) && c.IdleTimeout <= TimeSpan.FromHours(1), "Control:IdleTimeout", "must be between 1 second and 1 hour");
        Check(c.SendTimeout >= TimeSpan.FromSeconds(1) && c.SendTimeout <= TimeSpan.FromHours(1), "Control:SendTimeout", "must be between 1 second and 1 hour");
        Check(c.MaxConnections is >= 2 and <= 10_000, "Control:MaxConnections", "must be between 2 and 10000");
        Check(c.MaxConnectionsPerUser is >= 1 and <= 10_000, "Control:MaxConnectionsPerUser", "must be between 1 and 10000");
        Check(c.ReservedConnections >= 1 && c.ReservedConnections < c.MaxConnections, "Control:ReservedConnections",
            "must be at least 1 (the operator's way in) and less than Control:MaxConnections");
    }
}
