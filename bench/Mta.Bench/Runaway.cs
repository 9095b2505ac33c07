// mta-bench runaway: the calls that make a runaway hook handler spin, one fresh connection each, as retrying clients do.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Mta.Bench;

/// <summary>
/// HITS sessions (CONCURRENCY at a time), each: connect, EHLO, MAIL, one RCPT to the runaway handler's recipient, QUIT.
/// Each RCPT reply is counted by code and timed (the budget plus the grace while the handler runs; at once when it
/// is out of service).
/// </summary>
internal static class Runaway
{
    public const string Usage = """
        usage: mta-bench runaway --port P [--host 127.0.0.1] [--hits 20] [--rcpt spin@example.test] [--concurrency 1]
                                 [--timeout 300]

          --hits N         runaway calls in all, one session each
          --rcpt R         the recipient whose RCPT makes the handler spin
          --concurrency C  sessions at once
          --timeout S      bound on the whole run

        Prints: runaway: N hits in T s: 451 xN, ...; RCPT reply p50 X ms, max Y ms
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var host = "127.0.0.1";
        int port = 0, hits = 20, concurrency = 1, timeout = 300;
        var rcpt = "spin@example.test";
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--host": host = Next(); break;
                    case "--port": port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--hits": hits = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--rcpt": rcpt = Next(); break;
                    case "--concurrency": concurrency = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--timeout": timeout = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: Console.Error.WriteLine(Usage); return 2;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                Console.Error.WriteLine($"mta-bench runaway: {e.Message}");
                return 2;
            }
        }
        if (port is <= 0 or > 65535 || hits < 0 || concurrency < 1 || !host.StartsWith("127.", StringComparison.Ordinal))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var server = new IPEndPoint(IPAddress.Parse(host), port);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeout));
        var ct = cts.Token;
        var codes = new ConcurrentDictionary<string, int>();
        var replyMs = new ConcurrentBag<double>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        async Task HitterAsync()
        {
            while (Interlocked.Increment(ref next) < hits && !ct.IsCancellationRequested)
            {
                try
                {
                    using var client = await AuthFlood.LineClient.ConnectAsync(IPAddress.Loopback, server, ct);
                    await client.CommandAsync("EHLO runaway.bench.test", ct);
                    await client.CommandAsync("MAIL FROM:<runaway@remote.test>", ct);
                    var sent = Stopwatch.GetTimestamp();
                    var code = await client.CommandAsync($"RCPT TO:<{rcpt}>", ct);
                    replyMs.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                    codes.AddOrUpdate(code.ToString(CultureInfo.InvariantCulture), 1, (_, n) => n + 1);
                    await client.CommandAsync("QUIT", ct);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or OperationCanceledException)
                {
                    codes.AddOrUpdate("error", 1, (_, n) => n + 1);
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(HitterAsync)));
        var sorted = replyMs.Order().ToArray();
        var p50 = sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
        var max = sorted.Length == 0 ? 0 : sorted[^1];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"runaway: {hits} hits in {clock.Elapsed.TotalSeconds:F1} s: {string.Join(", ", codes.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} x{c.Value}"))}; RCPT reply p50 {p50:F0} ms, max {max:F0} ms"));
        return codes.ContainsKey("error") ? 1 : 0;
    }
}
