// Log event ids of the milter client (Milter/): 1780-1794.
namespace Mta.Engine;

internal static partial class LogEvents
{
    // 1780-1794: the milter client (Milter/); 1795-1799 belong to the real-filter tests' side of issue 17.
    internal static class Milter
    {
        public const int Decided = 1780;
        public const int Unavailable = 1781;
        public const int TimedOut = 1782;
        public const int ProtocolError = 1783;
        public const int Quarantined = 1784;
        public const int Discarded = 1785;
        public const int Changed = 1786;
        public const int Negotiated = 1787;
        public const int ChangeNotNegotiated = 1788;
        public const int ChangeInvalid = 1790;
        public const int Trace = 1789;
    }
}
