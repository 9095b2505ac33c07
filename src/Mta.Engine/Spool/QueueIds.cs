// Short, time-ordered, collision-resistant queue ids that are safe as file names and in SMTP replies.
using System.Security.Cryptography;

namespace Mta.Engine.Spool;

/// <summary>Makes queue ids such as <c>01JQ4ZK7D8A3MX0F2T</c>.</summary>
public static class QueueIds
{
    // Crockford base32: no I, L, O, U, so ids read aloud and compare without ambiguity; digits first keeps
    // ids sortable by creation time.
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    // 20 random bits per process plus a 20-bit counter separate processes (and restarts within one
    // millisecond); within a process the counter alone cannot repeat inside one millisecond.
    private static readonly uint ProcessSalt = (uint)RandomNumberGenerator.GetInt32(1 << 20);
    private static int _counter = RandomNumberGenerator.GetInt32(1 << 20);

    /// <summary>A new id: 10 characters of Unix milliseconds, then 8 of process salt and counter (18 in all).</summary>
    public static string Next()
    {
        var ms = (ulong)TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var low = ((ulong)ProcessSalt << 20) | ((uint)Interlocked.Increment(ref _counter) & 0xFFFFF);
        return string.Create(18, (ms, low), static (span, v) =>
        {
            for (var i = 9; i >= 0; i--) { span[i] = Alphabet[(int)(v.ms & 31)]; v.ms >>= 5; }
            for (var i = 17; i >= 10; i--) { span[i] = Alphabet[(int)(v.low & 31)]; v.low >>= 5; }
        });
    }
}
