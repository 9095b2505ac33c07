// mta-bench auth-flood: parallel AUTH attempts from several loopback addresses, and the latency of a legitimate client meanwhile.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Bench;

/// <summary>
/// Connects every attacker first (each from 127.0.0.2, .3, ... in turn, past EHLO), then sends every AUTH PLAIN with a
/// wrong password at once; while their answers are outstanding, a legitimate client on 127.0.0.1 runs one transaction
/// after another (connect, EHLO, MAIL, RCPT, DATA, the 250 after the dot) without AUTH, and each is timed.
/// </summary>
internal static class AuthFlood
{
    public const string Usage = """
        usage: mta-bench auth-flood --port P [--host 127.0.0.1] [--addresses 5] [--attempts 200] [--user alice]
                                    [--rcpt user@localhost] [--min-transactions 5] [--timeout 120]

          --addresses N        attacker source addresses 127.0.0.2 .. 127.0.0.(N+1) (Linux routes 127/8 to lo)
          --attempts N         AUTH PLAIN attempts in all, spread over the addresses, all sent at once
          --user U             the user name the attempts guess passwords for
          --rcpt R             the legitimate client's recipient (a local user: no AUTH needed)
          --min-transactions N legitimate transactions run even when the flood is answered sooner
          --timeout S          bound on the whole run

        Prints: flood: N attempts from A addresses answered in T s: 535 xN, 454 xN, ...
                legit: N transactions during the flood: min X ms, median Y ms, p99 P ms, max Z ms
        """;

    public static async Task<int> Run(string[] args)
    {
        var host = "127.0.0.1";
        int port = 0, addresses = 5, attempts = 200, minTransactions = 5, timeout = 120;
        string user = "alice", rcpt = "user@localhost";
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--host": host = Next(); break;
                    case "--port": port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--addresses": addresses = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--attempts": attempts = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--user": user = Next(); break;
                    case "--rcpt": rcpt = Next(); break;
                    case "--min-transactions": minTransactions = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--timeout": timeout = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: Console.Error.WriteLine(Usage); return 2;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                Console.Error.WriteLine($"mta-bench auth-flood: {e.Message}");
                return 2;
            }
        }
        if (port is <= 0 or > 65535 || addresses is < 1 or > 250 || attempts < 1 || !host.StartsWith("127.", StringComparison.Ordinal))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var server = new IPEndPoint(IPAddress.Parse(host), port);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeout));
        var ct = cts.Token;

        var attackers = new List<LineClient>();
        try
        {
            for (var i = 0; i < attempts; i++)
            {
                var client = await LineClient.ConnectAsync(IPAddress.Parse($"127.0.0.{2 + i % addresses}"), server, ct);
                attackers.Add(client);
                await client.CommandAsync("EHLO attacker.bench.test", ct);
            }
            var plain = (int i) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0wrong-guess-{i}"));
            var clock = Stopwatch.StartNew();
            var flood = attackers.Select((c, i) => c.CommandAsync("AUTH PLAIN " + plain(i), ct)).ToList();
            var all = Task.WhenAll(flood);

            var latencies = new List<double>();
            while (!all.IsCompleted || latencies.Count < minTransactions)
            {
                ct.ThrowIfCancellationRequested();
                latencies.Add(await TransactionAsync(server, rcpt, latencies.Count, ct));
            }
            var codes = await all;
            var floodSeconds = clock.Elapsed.TotalSeconds;

            var byCode = codes.GroupBy(c => c).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"flood: {attempts} attempts from {addresses} addresses answered in {floodSeconds:F2} s: {string.Join(", ", byCode)}"));
            latencies.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"legit: {latencies.Count} transactions during the flood: min {latencies[0]:F1} ms, median {latencies[latencies.Count / 2]:F1} ms, " +
                $"p99 {latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(latencies.Count * 0.99) - 1)]:F1} ms, max {latencies[^1]:F1} ms"));
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"mta-bench auth-flood: stopped by --timeout {timeout}s");
            return 1;
        }
        finally
        {
            foreach (var client in attackers) client.Dispose();
        }
    }

    // One whole transaction from 127.0.0.1, connect to the 250 after the dot, in milliseconds.
    private static async Task<double> TransactionAsync(IPEndPoint server, string rcpt, int n, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var client = await LineClient.ConnectAsync(IPAddress.Loopback, server, ct);
        Expect(250, await client.CommandAsync("EHLO legit.bench.test", ct), "EHLO");
        Expect(250, await client.CommandAsync("MAIL FROM:<legit@bench.test>", ct), "MAIL");
        Expect(250, await client.CommandAsync($"RCPT TO:<{rcpt}>", ct), "RCPT");
        Expect(354, await client.CommandAsync("DATA", ct), "DATA");
        Expect(250, await client.CommandAsync($"Subject: during the flood {n}\r\n\r\nhello\r\n.", ct), "end of data");
        var elapsed = clock.Elapsed.TotalMilliseconds;
        await client.CommandAsync("QUIT", ct);
        return elapsed;
    }

    private static void Expect(int code, int got, string what)
    {
        if (got != code) throw new InvalidOperationException($"legitimate client: {what} answered {got}, expected {code}");
    }

    /// <summary>A line-at-a-time SMTP client bound to a chosen loopback source address (also used by the runaway mode).</summary>
    internal sealed class LineClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly StreamReader _reader;

        private LineClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _reader = new StreamReader(_stream, Encoding.ASCII);
        }

        public static async Task<LineClient> ConnectAsync(IPAddress from, IPEndPoint server, CancellationToken ct)
        {
            var tcp = new TcpClient(new IPEndPoint(from, 0));
            try
            {
                await tcp.ConnectAsync(server, ct);
                var client = new LineClient(tcp);
                var greeting = await client.ReadReplyAsync(ct);
                if (greeting != 220) throw new InvalidOperationException($"greeting {greeting} from {server} to {from}");
                return client;
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        }

        // Sends one line (CRLF added) and returns the reply code.
        public async Task<int> CommandAsync(string line, CancellationToken ct)
        {
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), ct);
            return await ReadReplyAsync(ct);
        }

        private async Task<int> ReadReplyAsync(CancellationToken ct)
        {
            while (true)
            {
                var line = await _reader.ReadLineAsync(ct) ?? throw new IOException("connection closed by the server");
                if (line.Length >= 4 && line[3] == '-') continue;
                return int.Parse(line.AsSpan(0, 3), CultureInfo.InvariantCulture);
            }
        }

        public void Dispose() => _tcp.Dispose();
    }
}
