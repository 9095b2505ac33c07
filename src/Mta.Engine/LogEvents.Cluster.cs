// Log event ids of the cluster: node identity, the heartbeat to Redis, clashes between nodes (docs/scale-out.md).
namespace Mta.Engine;

internal static partial class LogEvents
{
    // 1760-1779: node identity and the cluster view (Cluster/).
    internal static class Cluster
    {
        public const int NodeIdentity = 1760;
        public const int HeartbeatFailed = 1761;
        public const int HeartbeatResumed = 1762;
        public const int QueueIdTagClash = 1763;
        public const int NodeNameClash = 1764;
        public const int ClusterReadFailed = 1765;
    }
}
