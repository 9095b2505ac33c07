// Command line of mta-bench: parsed by hand (no dependency, nothing to allocate per message).
using System.Globalization;
using System.Net;

namespace Mta.Bench;

internal sealed class BenchOptions
{
    public const string Usage = """
        usage: mta-bench HOST:PORT --sessions N --messages M --size S [options]

          HOST:PORT          loopback target only (127.x.x.x, localhost, ::1 / [::1])
          --sessions N       concurrent SMTP sessions (default 20)
          --messages M       messages in total, shared by all sessions (default 10000)
          --size S           bytes of message content (headers + body, CRLF lines,
                             without the final "."), at least the header size, ~280 (default 1024)
          --rcpts R          recipients per message (default 1; R>1 prefixes 1..R to --to)
          --pipelining       send MAIL/RCPT.../DATA in one write (if the server offers PIPELINING)
          --per-connection   new connection for every message (like smtp-source without -d)
          --from ADDR        envelope sender (default a@example.test)
          --to ADDR          envelope recipient (default user@localhost)
          --helo NAME        EHLO name (default client.bench.test)
          --timeout SEC      hard bound for the whole run (default 600)
          --data-file FILE   send FILE's bytes as the content of every message instead of the
                             generated one (bare LF becomes CRLF, lines starting with "." are
                             dot-stuffed; --size is then ignored): replays e.g. a DKIM-signed message

        Last line: mta-bench: N msgs in T s = R msg/s (failed F)
        Exit code: 0 when every message got 250, 1 when some failed, 2 on bad usage.
        """;

    public required IPEndPoint Target { get; init; }
    public string TargetText { get; init; } = "";
    public int Sessions { get; init; } = 20;
    public int Messages { get; init; } = 10000;
    public int Size { get; init; } = 1024;
    public int Rcpts { get; init; } = 1;
    public bool Pipelining { get; init; }
    public bool PerConnection { get; init; }
    public string From { get; init; } = "a@example.test";
    public string To { get; init; } = "user@localhost";
    public string Helo { get; init; } = "client.bench.test";
    public int TimeoutSeconds { get; init; } = 600;
    /// <summary>A message file sent as-is (after CRLF and dot-stuffing) instead of the generated content; null = generate.</summary>
    public string? DataFile { get; init; }

    /// <summary>Returns null and writes the reason to stderr when the command line is unusable.</summary>
    public static BenchOptions? Parse(string[] args)
    {
        string? target = null;
        int sessions = 20, messages = 10000, size = 1024, rcpts = 1, timeout = 600;
        bool pipelining = false, perConnection = false;
        string from = "a@example.test", to = "user@localhost", helo = "client.bench.test";
        string? dataFile = null;

        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            // Options taking a value read the next argument; a missing value is an error.
            string Next()
            {
                if (i + 1 >= args.Length) throw new FormatException($"{a} needs a value");
                return args[++i];
            }
            int NextInt(int min, int max)
            {
                string v = Next();
                if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
                    throw new FormatException($"{a} must be an integer in {min}..{max}, got '{v}'");
                return n;
            }
            try
            {
                switch (a)
                {
                    case "--sessions": sessions = NextInt(1, 20000); break;
                    case "--messages": messages = NextInt(1, 100_000_000); break;
                    case "--size": size = NextInt(1, 64 << 20); break;
                    case "--rcpts": rcpts = NextInt(1, 1000); break;
                    case "--timeout": timeout = NextInt(1, 86400); break;
                    case "--pipelining": pipelining = true; break;
                    case "--per-connection": perConnection = true; break;
                    case "--from": from = Next(); break;
                    case "--to": to = Next(); break;
                    case "--helo": helo = Next(); break;
                    case "--data-file": dataFile = Next(); break;
                    case "-h" or "--help": Console.Error.Write(Usage); return null;
                    default:
                        if (a.StartsWith('-') || target != null) throw new FormatException($"unexpected argument '{a}'");
                        target = a;
                        break;
                }
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"mta-bench: {e.Message}");
                Console.Error.Write(Usage);
                return null;
            }
        }

        if (target == null) { Console.Error.Write(Usage); return null; }
        IPEndPoint? ep = ParseLoopback(target, out string? why);
        if (ep == null) { Console.Error.WriteLine($"mta-bench: {why}"); return null; }
        // An empty --from is the null sender <>, which is legal.
        if (!to.Contains('@') || (from.Length > 0 && !from.Contains('@')))
        {
            Console.Error.WriteLine("mta-bench: --from/--to must be addresses local@domain");
            return null;
        }

        return new BenchOptions
        {
            Target = ep, TargetText = target,
            // More sessions than messages would only open idle connections.
            Sessions = Math.Min(sessions, messages), Messages = messages, Size = size, Rcpts = rcpts,
            Pipelining = pipelining, PerConnection = perConnection,
            From = from, To = to, Helo = helo, TimeoutSeconds = timeout, DataFile = dataFile,
        };
    }

    /// <summary>HOST:PORT where HOST must be a loopback address; never resolves names (no DNS, no remote hosts).</summary>
    private static IPEndPoint? ParseLoopback(string text, out string? why)
    {
        why = null;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535)
        {
            why = $"target must be HOST:PORT, got '{text}'";
            return null;
        }
        string host = text[..colon].Trim('[', ']');
        IPAddress? ip = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed : null;
        if (ip == null || !IPAddress.IsLoopback(ip))
        {
            why = $"refusing non-loopback target '{text}' (only 127.0.0.0/8, localhost, ::1)";
            return null;
        }
        return new IPEndPoint(ip, port);
    }
}
