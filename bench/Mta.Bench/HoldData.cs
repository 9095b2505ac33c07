// mta-bench hold: many sessions each send a large message and stop before the final dot, until told to finish.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Mta.Bench;

/// <summary>
/// Opens N sessions, sends MAIL, RCPT, DATA and S octets of message in each, prints <c>held N</c>, then waits until
/// the release file exists (or --hold-seconds pass); sends the final dot in every session at once and prints
/// <c>committed OK of N</c>. The memory figures are taken by the calling script (bench/data-memory.sh) from /proc.
/// </summary>
internal static class HoldData
{
    public const string Usage = """
        usage: mta-bench hold [--host 127.0.0.1] [--port 2526] [--sessions 200] [--size 9437184] [--release-file F] [--hold-seconds 600]

          --sessions N       concurrent sessions (default 200)
          --size S           octets of message each sends before the final dot (default 9 MiB)
          --release-file F   send the final dots once F exists (default: after --hold-seconds)
          --hold-seconds T   longest hold (default 600)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        string host = "127.0.0.1", release = "";
        int port = 2526, sessions = 200, holdSeconds = 600;
        long size = 9L * 1024 * 1024;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string v = args[i + 1];
            switch (args[i])
            {
                case "--host": host = v; break;
                case "--port": port = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--sessions": sessions = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--size": size = long.Parse(v, CultureInfo.InvariantCulture); break;
                case "--release-file": release = v; break;
                case "--hold-seconds": holdSeconds = int.Parse(v, CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine(Usage); return 2;
            }
        }
        if (!IPAddress.TryParse(host, out var address) || !IPAddress.IsLoopback(address))
        {
            Console.Error.WriteLine("--host must be a loopback address");
            return 2;
        }
        var body = Body(size);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(holdSeconds + 300));
        var ct = timeout.Token;
        var ep = new IPEndPoint(address, port);
        var started = Stopwatch.StartNew();
        var connections = await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            var c = await SmtpConnection.ConnectAsync(ep, ct);
            await Expect(c, 220, ct);
            await c.SendAsync("EHLO hold.bench.test\r\n"u8.ToArray(), ct);
            await Expect(c, 250, ct);
            await c.SendAsync(Encoding.ASCII.GetBytes($"MAIL FROM:<hold{i}@bench.test>\r\n"), ct);
            await Expect(c, 250, ct);
            await c.SendAsync(Encoding.ASCII.GetBytes($"RCPT TO:<user{i % 10}@localhost>\r\n"), ct);
            await Expect(c, 250, ct);
            await c.SendAsync("DATA\r\n"u8.ToArray(), ct);
            await Expect(c, 354, ct);
            await c.SendAsync(body, ct);
            return c;
        }));
        Console.WriteLine($"held {sessions} sessions x {size} octets (sent in {started.Elapsed.TotalSeconds:F1} s)");
        var until = DateTime.UtcNow.AddSeconds(holdSeconds);
        while (DateTime.UtcNow < until && (release.Length == 0 || !File.Exists(release))) await Task.Delay(100, ct);
        started.Restart();
        var codes = await Task.WhenAll(connections.Select(async c =>
        {
            await c.SendAsync("\r\n.\r\n"u8.ToArray(), ct);
            var code = await c.ReadReplyAsync(ct);
            await c.SendAsync("QUIT\r\n"u8.ToArray(), ct);
            await c.ReadReplyAsync(ct);
            c.Dispose();
            return code;
        }));
        var ok = codes.Count(c => c == 250);
        Console.WriteLine($"committed {ok} of {sessions} in {started.Elapsed.TotalSeconds:F1} s" +
            (ok == sessions ? "" : $" (other replies: {string.Join(',', codes.Where(c => c != 250).Distinct())})"));
        return ok == sessions ? 0 : 1;
    }

    private static async Task Expect(SmtpConnection c, int code, CancellationToken ct)
    {
        var got = await c.ReadReplyAsync(ct);
        if (got != code) throw new IOException($"expected {code}, got {got}: {c.LastReply}");
    }

    /// <summary>A plain-text message of <paramref name="size"/> octets in 100-octet lines (no line starts with a dot).</summary>
    private static byte[] Body(long size)
    {
        var header = "Subject: hold\r\nFrom: <hold@bench.test>\r\n\r\n"u8;
        var body = new byte[size];
        header.CopyTo(body);
        for (long i = header.Length; i < size; i++) body[i] = (byte)((i - header.Length) % 100 is 98 ? '\r' : (i - header.Length) % 100 is 99 ? '\n' : 'x');
        return body;
    }
}
