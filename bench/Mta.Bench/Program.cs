// mta-bench: SMTP load generator (N sessions share M messages of S bytes) against a loopback MTA.
using System.Diagnostics;
using System.Globalization;
using Mta.Bench;

// A separate mode: no SMTP at all, DKIM signatures per second on one thread.
if (args.Length > 0 && args[0] == "sign-rate") return SignRate.Run(args[1..]);
// The slow-client attack (issue 11): drip-fed connections and a timed legitimate client.
if (args.Length > 0 && args[0] == "slow-clients") return await SlowClients.RunAsync(args[1..]);
// Another: parallel AUTH attempts from several addresses and a legitimate client's latency meanwhile.
if (args.Length > 0 && args[0] == "auth-flood") return await AuthFlood.Run(args[1..]);
// Sessions that hold large messages before their final dot (bench/data-memory.sh).
if (args.Length > 0 && args[0] == "hold") return await HoldData.RunAsync(args[1..]);
// The calls that make a runaway hook handler spin (bench/runaway.sh).
if (args.Length > 0 && args[0] == "runaway") return await Runaway.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "span-cost") return SpanCost.Run(args[1..]);

var opts = BenchOptions.Parse(args);
if (opts == null) return 2;

MessageTemplate template;
try { template = new MessageTemplate(opts); }
catch (ArgumentException e) { Console.Error.WriteLine($"mta-bench: {e.Message}"); return 2; }

Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"# mta-bench {opts.TargetText} sessions={opts.Sessions} messages={opts.Messages} size={template.ContentSize}" +
    $"{(opts.DataFile != null ? $" data-file={opts.DataFile}" : "")} " +
    $"rcpts={opts.Rcpts} pipelining={(opts.Pipelining ? "on" : "off")} " +
    $"mode={(opts.PerConnection ? "per-connection" : "persistent")} timeout={opts.TimeoutSeconds}s"));

var run = new BenchRun(opts, template);
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(opts.TimeoutSeconds));
var sw = Stopwatch.StartNew();
var sessions = new Task[opts.Sessions];
for (int i = 0; i < sessions.Length; i++) sessions[i] = Task.Run(() => run.SessionAsync(cts.Token));
await Task.WhenAll(sessions);
double secs = sw.Elapsed.TotalSeconds;

if (cts.IsCancellationRequested) Console.Error.WriteLine($"mta-bench: stopped by --timeout {opts.TimeoutSeconds}s");
long ok = run.Completed;
long failed = opts.Messages - ok; // failed replies, broken connections, and messages never tried
var (p50, p99, max) = run.Latency();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"latency: p50 {p50:F3} ms p99 {p99:F3} ms max {max:F3} ms ({(opts.PerConnection ? "connect to 250 after DATA" : "MAIL to 250 after DATA")})"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"mta-bench: {ok} msgs in {secs:F3} s = {(secs > 0 ? ok / secs : 0):F1} msg/s (failed {failed})"));
return failed == 0 ? 0 : 1;

namespace Mta.Bench
{
    /// <summary>State shared by all sessions: the message counter, results and per-message latencies.</summary>
    internal sealed class BenchRun(BenchOptions opts, MessageTemplate t)
    {
        private long _claimed;   // messages handed out so far (each message is tried once)
        private long _completed; // messages that got 250 after the data
        private int _errorsShown;
        private int _pipeliningWarned;
        // Preallocated: recording a latency is one array store, no allocation per message.
        private readonly long[] _latencyTicks = new long[opts.Messages];

        public long Completed => Interlocked.Read(ref _completed);

        /// <summary>Hands out the next message number (1-based); false when all M are taken.</summary>
        private bool TryClaim(out long seq) => (seq = Interlocked.Increment(ref _claimed)) <= opts.Messages;

        public async Task SessionAsync(CancellationToken ct)
        {
            // Per-session copy of the small header block (stamped with each message's number)
            // plus the shared body: one gather write per message, the body is never copied.
            byte[] header = (byte[])t.Header.Clone();
            var parts = new ArraySegment<byte>[] { header, t.BodyAndDot };
            int total = header.Length + t.BodyAndDot.Length;
            SmtpConnection? c = null;
            bool pipelining = false;
            int connectFailures = 0;

            while (!ct.IsCancellationRequested && TryClaim(out long seq))
            {
                long t0 = Stopwatch.GetTimestamp();
                try
                {
                    if (c == null)
                    {
                        (c, pipelining) = await OpenAsync(ct);
                        connectFailures = 0;
                    }
                    t.Stamp(header, seq);
                    if (!opts.PerConnection) t0 = Stopwatch.GetTimestamp();
                    bool ok = await TransactionAsync(c, pipelining, parts, total, ct);
                    if (ok)
                    {
                        long n = Interlocked.Increment(ref _completed);
                        _latencyTicks[n - 1] = Stopwatch.GetTimestamp() - t0;
                    }
                    if (opts.PerConnection)
                    {
                        await QuitAsync(c, ct);
                        c.Dispose();
                        c = null;
                    }
                }
                catch (Exception e)
                {
                    c?.Dispose();
                    c = null;
                    if (ct.IsCancellationRequested) break;
                    Report($"{e.GetType().Name}: {e.Message}");
                    // A server that is down would otherwise burn through every message at connect speed.
                    if (++connectFailures >= 3) { Report("session gives up after 3 consecutive connection errors"); break; }
                }
            }

            if (c != null)
            {
                try { await QuitAsync(c, ct); } catch (Exception) { /* the run is over; QUIT is a courtesy */ }
                c.Dispose();
            }
        }

        private async Task<(SmtpConnection, bool)> OpenAsync(CancellationToken ct)
        {
            var c = await SmtpConnection.ConnectAsync(opts.Target, ct);
            try
            {
                int code = await c.ReadReplyAsync(ct);
                if (code != 220) throw new IOException($"banner: {c.LastReply}");
                await c.SendAsync(t.Ehlo, ct);
                code = await c.ReadReplyAsync(ct, scanEhlo: true);
                if (code != 250)
                {
                    // Old-style server: HELO, and no ESMTP extensions at all.
                    await c.SendAsync(t.Helo, ct);
                    if (await c.ReadReplyAsync(ct) != 250) throw new IOException($"HELO: {c.LastReply}");
                }
                bool pipelining = opts.Pipelining && code == 250 && c.ServerPipelining;
                if (opts.Pipelining && !pipelining && Interlocked.Exchange(ref _pipeliningWarned, 1) == 0)
                    Console.Error.WriteLine("mta-bench: server does not offer PIPELINING; sending commands one by one");
                return (c, pipelining);
            }
            catch
            {
                c.Dispose();
                throw;
            }
        }

        /// <summary>One message: MAIL, RCPT x R, DATA, content. True when every reply was the expected one.</summary>
        private async Task<bool> TransactionAsync(SmtpConnection c, bool pipelining,
            ArraySegment<byte>[] parts, int total, CancellationToken ct)
        {
            bool ok = true;
            int code;
            if (pipelining)
            {
                // RFC 2920: MAIL, RCPTs and DATA may go in one write; the replies come back in order.
                await c.SendAsync(t.Envelope, ct);
                code = await c.ReadReplyAsync(ct);
                if (code != 250) ok = Fail("MAIL", c);
                for (int i = 0; i < t.Rcpts.Length; i++)
                {
                    code = await c.ReadReplyAsync(ct);
                    if (code is not (250 or 251)) ok = Fail("RCPT", c);
                }
                code = await c.ReadReplyAsync(ct);
                if (code != 354)
                {
                    Fail("DATA", c);
                    return await ResetAsync(c, ct);
                }
            }
            else
            {
                await c.SendAsync(t.Mail, ct);
                if (await c.ReadReplyAsync(ct) != 250) { Fail("MAIL", c); return await ResetAsync(c, ct); }
                int accepted = 0;
                foreach (byte[] rcpt in t.Rcpts)
                {
                    await c.SendAsync(rcpt, ct);
                    code = await c.ReadReplyAsync(ct);
                    if (code is 250 or 251) accepted++; else ok = Fail("RCPT", c);
                }
                if (accepted == 0) return await ResetAsync(c, ct);
                await c.SendAsync(MessageTemplate.Data, ct);
                if (await c.ReadReplyAsync(ct) != 354) { Fail("DATA", c); return await ResetAsync(c, ct); }
            }

            await c.SendAsync(parts, total, ct);
            if (await c.ReadReplyAsync(ct) != 250) ok = Fail("end of data", c);
            return ok;
        }

        /// <summary>After a failed step: RSET so the session can go on with the next message. Always false.</summary>
        private static async Task<bool> ResetAsync(SmtpConnection c, CancellationToken ct)
        {
            await c.SendAsync(MessageTemplate.Rset, ct);
            if (await c.ReadReplyAsync(ct) != 250) throw new IOException($"RSET: {c.LastReply}");
            return false;
        }

        private static async Task QuitAsync(SmtpConnection c, CancellationToken ct)
        {
            await c.SendAsync(MessageTemplate.Quit, ct);
            int code = await c.ReadReplyAsync(ct);
            if (code != 221) throw new IOException($"QUIT: {c.LastReply}");
        }

        private bool Fail(string step, SmtpConnection c)
        {
            Report($"{step} rejected: {c.LastReply}");
            return false;
        }

        /// <summary>Shows the first few errors only, so a failing run does not flood the terminal.</summary>
        private void Report(string what)
        {
            int n = Interlocked.Increment(ref _errorsShown);
            if (n <= 5) Console.Error.WriteLine($"mta-bench: {what}");
            else if (n == 6) Console.Error.WriteLine("mta-bench: (further errors not shown)");
        }

        /// <summary>p50, p99 and max latency in milliseconds over the successful messages.</summary>
        public (double P50, double P99, double Max) Latency()
        {
            int n = (int)Completed;
            if (n == 0) return (0, 0, 0);
            var lat = _latencyTicks.AsSpan(0, n);
            lat.Sort();
            double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            return (Ms(lat[(n - 1) / 2]), Ms(lat[Math.Min(n - 1, (int)Math.Ceiling(n * 0.99) - 1)]), Ms(lat[n - 1]));
        }
    }
}
