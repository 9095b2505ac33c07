// Short session ids for log lines: unique within the process, and unlikely to repeat across restarts.
using System.Security.Cryptography;

namespace Mta.Engine.Receiver;

internal static class SessionIds
{
    private static readonly string Prefix = Convert.ToHexString(RandomNumberGenerator.GetBytes(2)).ToLowerInvariant();
    private static long _counter;

    public static string Next() => Prefix + Interlocked.Increment(ref _counter).ToString("x6");
}
