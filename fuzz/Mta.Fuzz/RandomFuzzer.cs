// Fallback when afl-fuzz is unavailable: uninstrumented, bounded, System.Random mutations of the corpus.
namespace Mta.Fuzz;

public static class RandomFuzzer
{
    private static readonly byte[][] Tokens =
        ["\r\n"u8.ToArray(), "\n"u8.ToArray(), "\r"u8.ToArray(), "\r\n.\r\n"u8.ToArray(), "."u8.ToArray(), "<"u8.ToArray(), ">"u8.ToArray(),
         "@"u8.ToArray(), "\""u8.ToArray(), "\\"u8.ToArray(), "["u8.ToArray(), "]"u8.ToArray(), ":"u8.ToArray(), " "u8.ToArray(),
         "="u8.ToArray(), "\0"u8.ToArray(), "ö"u8.ToArray(), "\xC3"u8.ToArray(), "IPv6:"u8.ToArray(), "MAIL FROM:"u8.ToArray(), "RCPT TO:"u8.ToArray()];

    public static int Run(Action<ReadOnlySpan<byte>> target, TimeSpan duration, string? corpusDir, string name)
    {
        var seeds = corpusDir is not null && Directory.Exists(corpusDir)
            ? Directory.GetFiles(corpusDir).Select(File.ReadAllBytes).ToList()
            : [];
        if (seeds.Count == 0) seeds.Add([]);
        var rng = new Random(Environment.TickCount);
        var crashDir = Path.Combine(corpusDir ?? ".", "..", "..", "crashes", name);
        var end = DateTime.UtcNow + duration;
        long execs = 0, crashes = 0;
        while (DateTime.UtcNow < end)
        {
            var input = Mutate(seeds[rng.Next(seeds.Count)], rng);
            execs++;
            try { target(input); }
            catch (Exception e)
            {
                crashes++;
                Directory.CreateDirectory(crashDir);
                var file = Path.Combine(crashDir, $"random-{Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(input))[..16]}");
                File.WriteAllBytes(file, input);
                Console.Error.WriteLine($"crash -> {file}: {e.GetType().Name}: {e.Message}");
            }
        }
        Console.WriteLine($"target={name} execs_done={execs} crashes={crashes}");
        return crashes == 0 ? 0 : 1;
    }

    private static byte[] Mutate(byte[] seed, Random rng)
    {
        var b = new List<byte>(seed);
        for (var n = 1 + rng.Next(8); n > 0; n--)
        {
            var at = b.Count == 0 ? 0 : rng.Next(b.Count + 1);
            switch (rng.Next(6))
            {
                case 0 when b.Count > 0: b[Math.Min(at, b.Count - 1)] = (byte)rng.Next(256); break;
                case 1 when b.Count > 0: b.RemoveRange(Math.Min(at, b.Count - 1), Math.Min(1 + rng.Next(8), b.Count - Math.Min(at, b.Count - 1))); break;
                case 2: b.InsertRange(at, Tokens[rng.Next(Tokens.Length)]); break;
                case 3: b.Insert(at, (byte)rng.Next(256)); break;
                case 4 when b.Count > 0: var from = rng.Next(b.Count); b.InsertRange(at, b.GetRange(from, Math.Min(1 + rng.Next(32), b.Count - from))); break;
                default: b.InsertRange(at, Enumerable.Repeat((byte)rng.Next(32, 127), rng.Next(600))); break;
            }
        }
        return b.ToArray();
    }
}
