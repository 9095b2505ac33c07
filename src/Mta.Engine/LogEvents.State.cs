// Log event ids of the policy-state store (Extensibility/State): 1740-1759.
namespace Mta.Engine;

internal static partial class LogEvents
{
    // 1740-1759: the state store of plugins, scripts and the AUTH failure limiter (Extensibility/State).
    internal static class State
    {
        public const int RedisUnavailable = 1740;
        public const int RedisAvailable = 1741;
        public const int SynchronousCallServedLocally = 1742;
    }
}
