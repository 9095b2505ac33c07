// Short, time-ordered queue ids, unique across the nodes of a cluster, safe as file names and in SMTP replies.
using System.Security.Cryptography;
using System.Text;

namespace Mta.Engine.Spool;

/// <summary>Makes queue ids such as <c>01JQ4ZK7D8N4MX0F2T</c>: ten characters of Unix milliseconds, two of the node's
/// tag (<c>N4</c>), six of process salt and counter.</summary>
public static class QueueIds
{
    // Crockford base32: no I, L, O, U, so ids read aloud and compare without ambiguity; digits first keeps
    // ids sortable by creation time.
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// <summary>The length of every id.</summary>
    public const int Length = 18;

    // Where the node tag sits: after the ten characters of time.
    private const int TagOffset = 10;

    // Two nodes differ in their tag (checked against the others' heartbeats); within one node, 10 random bits per
    // process and a 20-bit counter separate restarts (a clock stepped back) and keep ids of one millisecond apart.
    private static readonly uint ProcessSalt = (uint)RandomNumberGenerator.GetInt32(1 << 10);
    private static int _counter = RandomNumberGenerator.GetInt32(1 << 20);
    private static int _nodeTag = RandomNumberGenerator.GetInt32(1 << 10);

    /// <summary>This process's node tag (10 bits), as <see cref="UseNodeTag"/> set it; random until then.</summary>
    public static int NodeTag => Volatile.Read(ref _nodeTag);

    /// <summary>Makes every later id carry <paramref name="tag"/>: one process is one node, so this is set once at start.</summary>
    public static void UseNodeTag(int tag)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tag);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(tag, 1 << 10);
        Volatile.Write(ref _nodeTag, tag);
    }

    /// <summary>The tag a node of this name gets unless <c>Node:QueueIdTag</c> says otherwise: 10 bits of a hash of the
    /// name, case-insensitive, so every restart of a node gives the same tag.</summary>
    public static int TagForNodeName(string nodeName)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(nodeName.ToLowerInvariant()), hash);
        return ((hash[0] << 8) | hash[1]) & 0x3FF;
    }

    /// <summary>Reads a tag written as two characters of the id alphabet (<c>Node:QueueIdTag</c>, case-insensitive).</summary>
    public static bool TryParseTag(string? text, out int tag)
    {
        tag = 0;
        if (text is not { Length: 2 }) return false;
        var high = Alphabet.IndexOf(char.ToUpperInvariant(text[0]), StringComparison.Ordinal);
        var low = Alphabet.IndexOf(char.ToUpperInvariant(text[1]), StringComparison.Ordinal);
        if (high < 0 || low < 0) return false;
        tag = (high << 5) | low;
        return true;
    }

    /// <summary>A tag as the two characters it shows as inside an id.</summary>
    public static string FormatTag(int tag) => string.Create(2, tag, static (span, t) =>
    {
        span[0] = Alphabet[(t >> 5) & 31];
        span[1] = Alphabet[t & 31];
    });

    /// <summary>The two characters of the node tag inside <paramref name="queueId"/>, or null when it is not an id of
    /// this form (an id from before node tags, or another program's).</summary>
    public static string? NodeTagOf(string queueId) =>
        queueId.Length == Length ? queueId.Substring(TagOffset, 2) : null;

    /// <summary>A new id.</summary>
    public static string Next()
    {
        var ms = (ulong)TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var low = ((ulong)(uint)NodeTag << 30) | ((ulong)ProcessSalt << 20) | ((uint)Interlocked.Increment(ref _counter) & 0xFFFFF);
        return string.Create(Length, (ms, low), static (span, v) =>
        {
            for (var i = 9; i >= 0; i--) { span[i] = Alphabet[(int)(v.ms & 31)]; v.ms >>= 5; }
            for (var i = 17; i >= 10; i--) { span[i] = Alphabet[(int)(v.low & 31)]; v.low >>= 5; }
        });
    }
}
