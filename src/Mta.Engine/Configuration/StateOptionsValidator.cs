// Checks the State section (the policy-state store) and names the offending key.
using StackExchange.Redis;

namespace Mta.Engine.Configuration;

internal static class StateOptionsValidator
{
    /// <summary>Adds one message per problem in <see cref="MtaOptions.State"/> to <paramref name="errors"/>.</summary>
    internal static void Validate(MtaOptions o, List<string> errors)
    {
        var redis = o.State.Redis;
        if (o.State.Provider != StateProvider.Redis) return;
        // Without a server the stores would silently stay in memory: a node would think it shares what it does not.
        if (string.IsNullOrWhiteSpace(redis.Configuration))
            errors.Add("State:Redis:Configuration: must name the Redis server (e.g. 127.0.0.1:6379) when State:Provider is Redis");
        else
        {
            try { ConfigurationOptions.Parse(redis.Configuration); }
            catch (ArgumentException e) { errors.Add($"State:Redis:Configuration: '{redis.Configuration}' is not a StackExchange.Redis configuration: {e.Message}"); }
        }
        if (redis.KeyPrefix is null) errors.Add("State:Redis:KeyPrefix: must not be null (an empty prefix is allowed)");
        if (redis.OperationTimeout < TimeSpan.FromMilliseconds(1) || redis.OperationTimeout > TimeSpan.FromMinutes(1))
            errors.Add("State:Redis:OperationTimeout: must be between 1 ms and 1 minute");
        if (redis.ConnectTimeout < TimeSpan.FromMilliseconds(100) || redis.ConnectTimeout > TimeSpan.FromMinutes(5))
            errors.Add("State:Redis:ConnectTimeout: must be between 100 ms and 5 minutes");
        if (redis.BreakDuration < TimeSpan.FromMilliseconds(500) || redis.BreakDuration > TimeSpan.FromHours(1))
            errors.Add("State:Redis:BreakDuration: must be between 500 ms and 1 hour");
    }
}
