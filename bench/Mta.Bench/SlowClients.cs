// mta-bench slow-clients: drip-fed connections from many loopback addresses, and a timed legitimate client beside them.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Bench;

/// <summary>
/// The slow-client attack of issue 11: N connections spread over A source addresses, each sending one byte every few
/// seconds and reconnecting when the server closes it; meanwhile a legitimate client from another address does one
/// whole transaction every few seconds, timed from connect to 221.
/// </summary>
internal static class SlowClients
{
    public const string Usage = """
        usage: mta-bench slow-clients HOST:PORT [--connections 1000] [--addresses 25] [--first 127.0.0.10]
               [--legit 127.0.0.200] [--seconds 60] [--interval 2] [--drip 3] [--reconnect 1] [--to user@localhost]

          --connections N   drip-fed connections kept open (reopened when closed), spread round-robin over the addresses
          --addresses A     source addresses: --first and the next A-1 (127.0.0.10-34 by default; all of 127/8 is lo)
          --legit ADDR      the legitimate client's source address
          --seconds S       how long the attack runs (the first probe starts after --interval)
          --interval I      seconds between two probes of the legitimate client
          --drip D          seconds between two bytes of a drip-fed connection
          --reconnect R     seconds a drip-fed connection waits before reconnecting after a close or refusal
          --to ADDR         the legitimate client's recipient

        Prints one line per probe and a summary: probes, served, refused, failed, latency median and max (connect to
        221 of a whole transaction), the attack's connects, refusals and most connections open at once.
        """;

    private static long _connects, _greeted, _refusedAttack, _open, _maxOpen;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || !IPEndPoint.TryParse(args[0], out var target) || !IPAddress.IsLoopback(target.Address))
            return Fail("a loopback HOST:PORT is required");
        int connections = 1000, addresses = 25;
        double seconds = 60, interval = 2, drip = 3, reconnect = 1;
        var first = IPAddress.Parse("127.0.0.10");
        var legit = IPAddress.Parse("127.0.0.200");
        var to = "user@localhost";
        for (var i = 1; i < args.Length; i += 2)
        {
            var v = i + 1 < args.Length ? args[i + 1] : null;
            if (v is null) return Fail($"{args[i]} needs a value");
            var ok = args[i] switch
            {
                "--connections" => int.TryParse(v, out connections) && connections is >= 0 and <= 100_000,
                "--addresses" => int.TryParse(v, out addresses) && addresses is >= 1 and <= 200,
                "--first" => IPAddress.TryParse(v, out first!) && IPAddress.IsLoopback(first),
                "--legit" => IPAddress.TryParse(v, out legit!) && IPAddress.IsLoopback(legit),
                "--seconds" => Num(v, out seconds) && seconds is > 0 and <= 3600,
                "--interval" => Num(v, out interval) && interval is > 0 and <= 600,
                "--drip" => Num(v, out drip) && drip is > 0 and <= 600,
                "--reconnect" => Num(v, out reconnect) && reconnect is >= 0 and <= 600,
                "--to" => (to = v).Contains('@'),
                _ => false,
            };
            if (!ok) return Fail($"bad option or value: {args[i]} {v}");
        }
        var sources = Enumerable.Range(0, addresses).Select(n => Offset(first, n)).ToArray();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# slow-clients {target} connections={connections} from {sources[0]}-{sources[^1]} drip={drip}s reconnect={reconnect}s legit={legit} every {interval}s for {seconds}s"));

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var attackers = new Task[connections];
        for (var i = 0; i < connections; i++)
        {
            var source = sources[i % addresses];
            attackers[i] = Task.Run(() => DripLoopAsync(target, source, TimeSpan.FromSeconds(drip), TimeSpan.FromSeconds(reconnect), stop.Token));
        }

        var latencies = new List<double>();
        int probes = 0, served = 0, refused = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try { await Task.Delay(TimeSpan.FromSeconds(interval), stop.Token); } catch (OperationCanceledException) { break; }
            probes++;
            var (outcome, latency, detail) = await ProbeAsync(target, legit, to);
            switch (outcome)
            {
                case "served": served++; latencies.Add(latency); break;
                case "refused": refused++; break;
                default: failed++; break;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"probe {probes} t={clock.Elapsed.TotalSeconds:F1}s {outcome} {latency:F3}s attack-open={Interlocked.Read(ref _open)} {detail}"));
        }
        await Task.WhenAll(attackers);
        latencies.Sort();
        var median = latencies.Count == 0 ? double.NaN : latencies[latencies.Count / 2];
        var max = latencies.Count == 0 ? double.NaN : latencies[^1];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"attack: {_connects} connects, {_greeted} greeted 220, {_refusedAttack} refused 421, at most {_maxOpen} open at once"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"slow-clients: legit probes {probes}: served {served}, refused {refused}, failed {failed}; latency median {median:F3} s max {max:F3} s"));
        return served == probes && probes > 0 && max < 10 ? 0 : 1;
    }

    /// <summary>One whole transaction from <paramref name="from"/>; bounded to 30 s.</summary>
    private static async Task<(string Outcome, double Latency, string Detail)> ProbeAsync(IPEndPoint target, IPAddress from, string to)
    {
        var clock = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(target, cts.Token);
            var reader = new ReplyReader(socket);
            var greeting = await reader.ReadAsync(cts.Token);
            if (greeting.StartsWith("421", StringComparison.Ordinal)) return ("refused", clock.Elapsed.TotalSeconds, greeting);
            if (!greeting.StartsWith("220", StringComparison.Ordinal)) return ("failed", clock.Elapsed.TotalSeconds, greeting);
            foreach (var (line, code) in new[] { ("EHLO legit.bench.test", "250"), ("MAIL FROM:<legit@bench.test>", "250"), ($"RCPT TO:<{to}>", "250"), ("DATA", "354"),
                         ("Subject: probe\r\n\r\nhello\r\n.", "250"), ("QUIT", "221") })
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes(line + "\r\n"), SocketFlags.None, cts.Token);
                var reply = await reader.ReadAsync(cts.Token);
                if (!reply.StartsWith(code, StringComparison.Ordinal)) return ("failed", clock.Elapsed.TotalSeconds, $"{line.Split("\r\n")[0]}: {reply}");
            }
            return ("served", clock.Elapsed.TotalSeconds, "");
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            return ("failed", clock.Elapsed.TotalSeconds, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private static async Task DripLoopAsync(IPEndPoint target, IPAddress from, TimeSpan drip, TimeSpan reconnect, CancellationToken stop)
    {
        var text = "EHLO drip.bench.test\r\n"u8.ToArray();
        var next = 0;
        var buffer = new byte[512];
        while (!stop.IsCancellationRequested)
        {
            using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                var open = false;
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(target, stop);
                    Interlocked.Increment(ref _connects);
                    var n = await socket.ReceiveAsync(buffer, SocketFlags.None, stop);
                    if (n >= 3 && buffer[0] == (byte)'2')
                    {
                        Interlocked.Increment(ref _greeted);
                        open = true;
                        var now = Interlocked.Increment(ref _open);
                        long seen;
                        while (now > (seen = Interlocked.Read(ref _maxOpen)) && Interlocked.CompareExchange(ref _maxOpen, now, seen) != seen) { }
                        var closed = DrainAsync(socket, buffer, stop);
                        while (!closed.IsCompleted && !stop.IsCancellationRequested)
                        {
                            await socket.SendAsync(text.AsMemory(next++ % text.Length, 1), SocketFlags.None, stop);
                            await Task.WhenAny(closed, Task.Delay(drip, stop));
                        }
                        await closed;
                    }
                    else if (n >= 3 && buffer[0] == (byte)'4')
                    {
                        Interlocked.Increment(ref _refusedAttack);
                    }
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                }
                finally
                {
                    if (open) Interlocked.Decrement(ref _open);
                }
            }
            try { await Task.Delay(reconnect, stop); } catch (OperationCanceledException) { return; }
        }
    }

    private static async Task DrainAsync(Socket socket, byte[] buffer, CancellationToken stop)
    {
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, stop) > 0) { }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads whole SMTP replies (the last line of a multi-line reply) from a socket.</summary>
    private sealed class ReplyReader(Socket socket)
    {
        private readonly StringBuilder _pending = new();
        private readonly byte[] _buffer = new byte[4096];

        public async Task<string> ReadAsync(CancellationToken ct)
        {
            while (true)
            {
                var text = _pending.ToString();
                int start = 0, end;
                while ((end = text.IndexOf("\r\n", start, StringComparison.Ordinal)) >= 0)
                {
                    var line = text[start..end];
                    start = end + 2;
                    if (line.Length < 4 || line[3] != '-')
                    {
                        _pending.Remove(0, start);
                        return line;
                    }
                }
                var n = await socket.ReceiveAsync(_buffer, SocketFlags.None, ct);
                if (n == 0) return "closed: " + text;
                _pending.Append(Encoding.ASCII.GetString(_buffer, 0, n));
            }
        }
    }

    private static IPAddress Offset(IPAddress first, int n)
    {
        var bytes = first.GetAddressBytes();
        var value = ((uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3]) + (uint)n;
        return new IPAddress([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
    }

    private static bool Num(string v, out double d) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out d);

    private static int Fail(string why)
    {
        Console.Error.WriteLine($"mta-bench slow-clients: {why}");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
