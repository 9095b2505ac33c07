// Two real nodes behind a real HAProxy (PROXY v2) sharing a real Redis: a node killed under load loses nothing, Redis
// stopped under load stops no session, and `mta status --cluster` sees both nodes, then the dead one as down.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Mta.Engine.Spool;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed partial class ScaleOutTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Tags = [Tag(0), Tag(1)];

    private static string Tag(int index) => QueueIds.FormatTag(QueueIds.TagForNodeName(TwoNodeCluster.NodeName(index)));

    /// <summary>One message on its own connection through the balancer, from <paramref name="client"/>.</summary>
    /// <returns>The reply that ended it (MAIL's or RCPT's refusal, or the one after the dot) and the queue id of a 250.</returns>
    private static async Task<(int Code, string? QueueId)> SendAsync(IPEndPoint balancer, IPAddress client, string messageId,
        string from = "sender@remote.test", string to = "user@example.test")
    {
        await using var c = await RawSmtpClient.ConnectFromAsync(client, balancer);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        var mail = await c.CommandAsync($"MAIL FROM:<{from}>");
        if (mail.Code != 250) return (mail.Code, null);
        var rcpt = await c.CommandAsync($"RCPT TO:<{to}>");
        if (rcpt.Code != 250) return (rcpt.Code, null);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync($"Message-ID: <{messageId}>\r\nSubject: scale-out\r\n\r\n{new string('x', 300)}\r\n.\r\n");
        var end = await c.ReadReplyAsync();
        await c.SendAsync("QUIT\r\n");
        var id = QueuedAs().Match(end.Text);
        return (end.Code, end.Code == 250 && id.Success ? id.Groups[1].Value : null);
    }

    private sealed class Load
    {
        public ConcurrentDictionary<string, string> Acknowledged { get; } = new(); // Message-ID -> queue id
        public ConcurrentBag<TimeSpan> Sessions { get; } = new();
        public int Failures;
    }

    // Senders that each send one message per connection until stopped; a connection cut by a kill is a failure, not a loss.
    private static Task[] StartLoad(IPEndPoint balancer, Load load, int senders, string prefix, CancellationToken stop) =>
        Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            var client = IPAddress.Parse($"127.0.1.{s + 1}");
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var messageId = $"{prefix}-{s}-{n}@client.test";
                var watch = Stopwatch.StartNew();
                try
                {
                    var (code, queueId) = await SendAsync(balancer, client, messageId);
                    if (code == 250 && queueId is not null) load.Acknowledged[messageId] = queueId;
                    else Interlocked.Increment(ref load.Failures);
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or TimeoutException)
                {
                    Interlocked.Increment(ref load.Failures);
                }
                load.Sessions.Add(watch.Elapsed);
            }
        })).ToArray();

    private static async Task WaitForAsync(Load load, Func<Load, bool> condition, string what, TimeSpan timeout) =>
        await Conditions.WaitUntilAsync(() => condition(load), what, timeout, Ct);

    [Fact]
    public async Task A_node_killed_under_load_loses_no_acknowledged_message_and_the_cluster_view_shows_it_down_then_stopped()
    {
        TwoNodeCluster.SkipUnlessInstalled();
        Assert.NotEqual(Tags[0], Tags[1]);
        await using var cluster = await TwoNodeCluster.StartAsync();

        // Both nodes beat every 500 ms: each sees both up.
        await Conditions.WaitUntilAsync(async () =>
        {
            var states = await cluster.NodeStatesAsync(0);
            return states.GetValueOrDefault("node1") == "up" && states.GetValueOrDefault("node2") == "up";
        }, "node1 and node2 up in the cluster view", TimeSpan.FromSeconds(20), Ct);
        var (_, text) = await cluster.StatusAsync(1, json: false);
        Assert.Matches(new Regex(@"^node1 +up ", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^node2\* +up ", RegexOptions.Multiline), text);

        var load = new Load();
        using var stop = new CancellationTokenSource();
        var senders = StartLoad(cluster.EndPoint, load, 6, "kill", stop.Token);
        // Kill while both nodes take mail, not at a quiet moment.
        await WaitForAsync(load, l => l.Acknowledged.Values.Count(id => QueueIds.NodeTagOf(id) == Tags[1]) >= 20
                                      && l.Acknowledged.Values.Count(id => QueueIds.NodeTagOf(id) == Tags[0]) >= 20,
            "20 messages acknowledged by each node", TimeSpan.FromSeconds(40));
        await cluster.KillAsync(1);
        var atKill = load.Acknowledged.Count;

        // HAProxy takes node2 out; the rest of the load goes to node1.
        await WaitForAsync(load, l => l.Acknowledged.Count >= atKill + 40, "40 more messages acknowledged after the kill", TimeSpan.FromSeconds(30));
        await Conditions.WaitUntilAsync(async () => (await cluster.NodeStatesAsync(0)).GetValueOrDefault("node2") == "down",
            "node2 down in the cluster view", TimeSpan.FromSeconds(15), Ct);
        (_, text) = await cluster.StatusAsync(0, json: false);
        Assert.Matches(new Regex(@"^node2 +down .*\(last said: ok\)", RegexOptions.Multiline), text);
        stop.Cancel();
        await Task.WhenAll(senders);

        // node2's queue recovers when it comes back: every 250, from either node, is in a Maildir.
        await cluster.StartNodeAsync(1);
        var acknowledged = load.Acknowledged.Keys.ToHashSet();
        HashSet<string> missing = [];
        try
        {
            await Conditions.WaitUntilAsync(async () =>
            {
                var delivered = await cluster.DeliveredMessageIdsAsync();
                missing = acknowledged.Where(id => !delivered.ContainsKey(id)).ToHashSet();
                return missing.Count == 0;
            }, "every acknowledged message delivered", TimeSpan.FromSeconds(60), Ct);
        }
        catch (TimeoutException)
        {
            // Reported below with the ids and the nodes' output.
        }
        Assert.True(missing.Count == 0,
            $"{missing.Count} of {acknowledged.Count} acknowledged messages lost, e.g. {string.Join(", ", missing.Take(5))}\n{cluster.Output}");
        // One MX name for both; the Received field says which node took each message.
        Assert.Equal(["node1", "node2"], cluster.ReceivedBy.Order());
        await Conditions.WaitUntilAsync(async () => (await cluster.NodeStatesAsync(0)).GetValueOrDefault("node2") == "up",
            "node2 up again after its restart", TimeSpan.FromSeconds(15), Ct);
        // A clean stop is told from a crash: the last beat says so.
        await cluster.StopNodeAsync(1);
        Assert.Equal("stopped", (await cluster.NodeStatesAsync(0)).GetValueOrDefault("node2"));
    }

    [Fact]
    public async Task Redis_stopped_under_load_stops_no_session_and_the_cluster_heals_when_it_returns()
    {
        TwoNodeCluster.SkipUnlessInstalled();
        var scripts = Directory.CreateTempSubdirectory("mta-scaleout-scripts-").FullName;
        try
        {
            await RedisOutageAsync(scripts);
        }
        finally
        {
            Directory.Delete(scripts, recursive: true);
        }
    }

    private static async Task RedisOutageAsync(string scripts)
    {
        // The shipped rate-limit script with limits the load never reaches: every connection and MAIL is a state call.
        File.Copy(Path.Combine(AppContext.BaseDirectory, "shipped-scripts", "rate-limit.csx"), Path.Combine(scripts, "rate-limit.csx"));
        await using var cluster = await TwoNodeCluster.StartAsync(new Dictionary<string, object?>
        {
            ["Scripts"] = new
            {
                Directory = scripts,
                Watch = false,
                Settings = new Dictionary<string, object>
                {
                    ["rate-limit"] = new { MaxMessagesPerMinute = 100_000, MaxConnectionsPerMinute = 100_000, ExemptLoopback = false },
                },
            },
        });
        await Conditions.WaitUntilAsync(async () => (await cluster.NodeStatesAsync(0)).Count == 2, "both nodes in the view", TimeSpan.FromSeconds(20), Ct);

        var load = new Load();
        using var stop = new CancellationTokenSource();
        var senders = StartLoad(cluster.EndPoint, load, 4, "redis", stop.Token);
        await WaitForAsync(load, l => l.Acknowledged.Count >= 20, "20 messages before the outage", TimeSpan.FromSeconds(30));
        cluster.Redis.Kill();
        var atOutage = load.Acknowledged.Count;

        // Both nodes go on taking mail without Redis.
        await WaitForAsync(load, l => l.Acknowledged.Count >= atOutage + 40, "40 messages during the outage", TimeSpan.FromSeconds(30));
        var during = load.Acknowledged.Values.ToArray();
        Assert.Contains(during, id => QueueIds.NodeTagOf(id) == Tags[0]);
        Assert.Contains(during, id => QueueIds.NodeTagOf(id) == Tags[1]);
        // `mta status --cluster` says why there is no view, and still shows the node.
        var (code, text) = await cluster.StatusAsync(0, json: false);
        Assert.Equal(0, code);
        Assert.Contains("cluster view unavailable: ", text);
        Assert.Contains("mx.test: Mta ", text);

        await cluster.Redis.RestartAsync();
        var atReturn = load.Acknowledged.Count;
        await WaitForAsync(load, l => l.Acknowledged.Count >= atReturn + 20, "20 messages after Redis returned", TimeSpan.FromSeconds(30));
        // The restarted Redis is empty: the shared counters are written again, without a restart of either node.
        await Conditions.WaitUntilAsync(async () => await cluster.Redis.CommandAsync("EXISTS", "mta:script:rate-limit:messages:127.0.1.1") == ":1",
            "the shared message counter of 127.0.1.1 back in Redis", TimeSpan.FromSeconds(30), Ct);
        // The heartbeats come back by themselves: state works again without a restart of either node.
        await Conditions.WaitUntilAsync(async () =>
        {
            var states = await cluster.NodeStatesAsync(1);
            return states.GetValueOrDefault("node1") == "up" && states.GetValueOrDefault("node2") == "up";
        }, "both nodes up again in the view", TimeSpan.FromSeconds(30), Ct);
        stop.Cancel();
        await Task.WhenAll(senders);

        // No session waited on Redis: each one, outage included, took well under the client's timeout.
        var slowest = load.Sessions.Max();
        Assert.True(slowest < TimeSpan.FromSeconds(5), $"a session took {slowest.TotalSeconds:0.0} s\n{cluster.Output}");
        Assert.True(load.Failures == 0, $"{load.Failures} sessions failed\n{cluster.Output}");
        await Conditions.WaitUntilAsync(async () => load.Acknowledged.Keys.All((await cluster.DeliveredMessageIdsAsync()).ContainsKey),
            "every acknowledged message delivered", TimeSpan.FromSeconds(30), Ct);
    }

    private const int MessagesPerMinute = 5;

    // The shipped rate-limit script (small limit, loopback not exempt: every test client is on 127/8) and the shipped
    // greylist plugin keeping its triplets in the shared state store, with a short delay.
    private static Dictionary<string, object?> SharedPolicy(string scripts) => new()
    {
        ["Scripts"] = new
        {
            Directory = scripts,
            Watch = false,
            Settings = new Dictionary<string, object>
            {
                ["rate-limit"] = new { MaxMessagesPerMinute = MessagesPerMinute, MaxConnectionsPerMinute = 100_000, ExemptLoopback = false },
            },
        },
        ["Plugins"] = new Dictionary<string, object>
        {
            ["greylist"] = new
            {
                Path = TwoNodeCluster.BuildOutput("plugins/Mta.Plugins.Greylist"),
                Settings = new { Store = "State", DelaySeconds = 2, RetryWindowHours = 1, AllowDays = 1 },
            },
        },
    };

    [Fact]
    public async Task Rate_limits_and_greylisting_hold_across_both_nodes()
    {
        TwoNodeCluster.SkipUnlessInstalled();
        var scripts = Directory.CreateTempSubdirectory("mta-scaleout-scripts-").FullName;
        try
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, "shipped-scripts", "rate-limit.csx"), Path.Combine(scripts, "rate-limit.csx"));
            await using var cluster = await TwoNodeCluster.StartAsync(SharedPolicy(scripts), sharedHostName: false);

            // Rate limit: twice the limit from one client address, one connection each, round robin over both nodes.
            var limited = IPAddress.Parse("127.0.3.1");
            var answers = new List<(string Node, int Code)>();
            for (var i = 0; i < 2 * MessagesPerMinute; i++)
            {
                await using var c = await RawSmtpClient.ConnectFromAsync(limited, cluster.EndPoint, readGreeting: false);
                var greeting = await c.ReadReplyAsync();
                SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
                answers.Add((greeting.Lines[0].Split(' ')[0], (await c.CommandAsync("MAIL FROM:<bulk@remote.test>")).Code));
                await c.SendAsync("QUIT\r\n");
            }
            Assert.Equal(["node1.mx.test", "node2.mx.test"], answers.Select(a => a.Node).Distinct().Order());
            // N in total, not N per node: the counter is one, in Redis.
            Assert.Equal(MessagesPerMinute, answers.Count(a => a.Code == 250));
            Assert.Equal(MessagesPerMinute, answers.Count(a => a.Code == 450));
            Assert.Contains(answers, a => a.Node == "node1.mx.test" && a.Code == 450);
            Assert.Contains(answers, a => a.Node == "node2.mx.test" && a.Code == 450);

            // Greylisting: the first sight on one node, the retry after the delay through the other one passes.
            var sender = IPAddress.Parse("127.0.4.1");
            var first = await RcptThroughAsync(cluster, sender);
            Assert.Equal(451, first.Code);
            await Task.Delay(TimeSpan.FromSeconds(2.5), Ct);
            var retry = await RcptThroughAsync(cluster, sender);
            // Round robin: a new connection goes to the other node; make sure of it rather than assume it.
            if (retry.Node == first.Node) retry = await RcptThroughAsync(cluster, sender);
            Assert.NotEqual(first.Node, retry.Node);
            Assert.Equal(250, retry.Code);
        }
        finally
        {
            Directory.Delete(scripts, recursive: true);
        }
    }

    // MAIL and RCPT of one triplet on a new connection through the balancer: which node answered, and RCPT's code.
    private static async Task<(string Node, int Code)> RcptThroughAsync(TwoNodeCluster cluster, IPAddress client)
    {
        await using var c = await RawSmtpClient.ConnectFromAsync(client, cluster.EndPoint, readGreeting: false);
        var node = (await c.ReadReplyAsync()).Lines[0].Split(' ')[0];
        SmtpAssert.Reply(await c.CommandAsync("EHLO retry.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<newsletter@remote.test>"), 250);
        var rcpt = await c.CommandAsync("RCPT TO:<user@example.test>");
        await c.SendAsync("QUIT\r\n");
        return (node, rcpt.Code);
    }

    [GeneratedRegex(@"queued as ([A-Za-z0-9]+)")]
    private static partial Regex QueuedAs();
}
