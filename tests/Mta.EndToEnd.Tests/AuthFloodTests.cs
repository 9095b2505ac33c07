// Issue 11's AUTH bar: 200 parallel attempts from 5 addresses evaluate no more passwords than the limits allow, and a
// legitimate transaction from another address still takes under 100 ms while the hashing runs.
using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Auth;
using Mta.EndToEnd.Tests.Infrastructure;
using static Mta.Testing.Conditions;

namespace Mta.EndToEnd.Tests;

public sealed class AuthFloodTests
{
    private const int Addresses = 5, AttemptsPerAddress = 40, MaxFailuresPerIp = 10;

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));

    [Fact]
    public async Task Parallel_attempts_are_bounded_by_the_failure_limit_and_a_legitimate_client_stays_fast()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "other client addresses on loopback (127.0.0.x) are routed to lo on Linux only");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].AllowPlaintextAuth = true;
            // Enough for each password check to take a while (about 0.1 s a core), so the flood lasts seconds.
            o.Auth.HashIterations = 300_000;
            // Two hashing threads whatever the machine, so the flood lasts long enough to measure during it.
            o.Auth.HashWorkers = 2;
            o.Auth.MaxFailuresPerIp = MaxFailuresPerIp;
            o.Auth.MaxDelay = TimeSpan.FromSeconds(1);
            // Forty connections from one address must all get in: the limit under test is AUTH's, not the connection count.
            o.Limits.MaxConnectionsPerIp = 1000;
        });
        var store = server.Services.GetRequiredService<UserStore>();
        var pool = server.Services.GetRequiredService<PasswordHashPool>();
        store.Add("alice", "correct horse", []);

        // Every attacker is connected and past EHLO before any AUTH goes out, so the attempts really run in parallel.
        var attackers = new List<RawSmtpClient>();
        try
        {
            for (var a = 0; a < Addresses; a++)
            {
                var from = IPAddress.Parse($"127.0.0.{a + 2}");
                for (var i = 0; i < AttemptsPerAddress; i++)
                {
                    var client = await RawSmtpClient.ConnectFromAsync(from, server.EndPoint);
                    // Fifty hashes on two threads: on a machine busy with other tests the last reply can take longer
                    // than the usual read bound. How long the flood takes is not what this test measures.
                    client.ReplyTimeout = TimeSpan.FromMinutes(2);
                    attackers.Add(client);
                    Assert.Equal(250, (await client.CommandAsync("EHLO attacker.test")).Code);
                }
            }
            var attempts = attackers.Select((c, i) => c.CommandAsync("AUTH PLAIN " + Plain("alice", "guess-" + i))).ToList();

            // Measured while the hashing threads are busy with the flood.
            await WaitUntilAsync(() => pool.Pending >= pool.Workers || attempts.All(t => t.IsCompleted),
                "the flood reaching the hashing threads", TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            var latencies = new List<double>();
            for (var i = 0; i < 10 && pool.Pending > 0; i++) latencies.Add(await LegitimateTransactionAsync(server, i));

            var replies = await Task.WhenAll(attempts);
            var evaluated = store.Evaluations;
            Assert.InRange(evaluated, 1, Addresses * MaxFailuresPerIp);
            Assert.All(replies, r => Assert.Contains(r.Code, new[] { 535, 454 }));
            Assert.InRange(replies.Count(r => r.Code == 535), 1, Addresses * MaxFailuresPerIp);
            Assert.All(replies.Where(r => r.Code == 454), r => Assert.StartsWith("4.7.0", r.Lines[0]));

            Assert.True(latencies.Count >= 3, $"only {latencies.Count} transaction(s) ran while the flood was hashing");
            latencies.Sort();
            var median = latencies[latencies.Count / 2];
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"evaluations {evaluated} of {attackers.Count} attempts; legitimate transaction ms: {string.Join(", ", latencies.Select(l => l.ToString("F1")))}; median {median:F1}");
            Assert.True(median < 100, $"median legitimate transaction {median:F1} ms (all: {string.Join(", ", latencies.Select(l => l.ToString("F1")))})");
        }
        finally
        {
            foreach (var client in attackers) await client.DisposeAsync();
        }
    }

    // Connect, EHLO, MAIL, RCPT to a local user, DATA and the final dot's 250, from 127.0.0.1 without AUTH; milliseconds.
    private static async Task<double> LegitimateTransactionAsync(MtaTestServer server, int n)
    {
        var clock = Stopwatch.StartNew();
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO legit.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<someone@legit.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<bob@example.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await smtp.CommandAsync($"Subject: during the flood {n}\r\n\r\nhello\r\n.")).Code);
        var elapsed = clock.Elapsed.TotalMilliseconds;
        await smtp.CommandAsync("QUIT");
        return elapsed;
    }

}
