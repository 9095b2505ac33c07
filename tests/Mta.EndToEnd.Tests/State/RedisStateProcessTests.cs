// Two real `mta run` processes sharing a private redis-server through State:Provider Redis, with the shipped rate-limit
// script: the limit is shared, Redis killed under a load of sessions costs no session more than the timeout (each node
// limits alone), and once redis-server is back the nodes share the limit again without a restart.
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests.State;

public sealed class RedisStateProcessTests : IDisposable
{
    private const int MessagesPerMinute = 6;
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromMilliseconds(250);
    // What a command may take beyond the state call's timeout on a loaded two-core machine.
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(1250);
    private const string MessagesKey = "mta:script:rate-limit:messages:127.0.0.1";
    private const string ConnectionsKey = "mta:script:rate-limit:connections:127.0.0.1";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-redis-e2e-" + Guid.NewGuid().ToString("n")[..12]);

    private string WriteConfig(string node, RedisServer redis)
    {
        var data = Path.Combine(_root, node);
        var scripts = Path.Combine(data, "scripts");
        Directory.CreateDirectory(scripts);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "shipped-scripts", "rate-limit.csx"), Path.Combine(scripts, "rate-limit.csx"));
        return MtaProcess.WriteConfig(data, extra: new Dictionary<string, object?>
        {
            ["Node"] = new { Name = node },
            ["State"] = new
            {
                Provider = "Redis",
                Redis = new { Configuration = redis.Configuration, OperationTimeout = "00:00:00.250", BreakDuration = "00:00:01" },
            },
            ["Scripts"] = new
            {
                Directory = scripts,
                Watch = false,
                Settings = new Dictionary<string, object>
                {
                    ["rate-limit"] = new { MaxMessagesPerMinute = MessagesPerMinute, MaxConnectionsPerMinute = 100_000, ExemptLoopback = false },
                },
            },
            ["Logging"] = new
            {
                LogLevel = new Dictionary<string, string>
                {
                    ["Default"] = "Warning",
                    ["Mta.Engine.Receiver.SmtpServer"] = "Information",
                    ["Mta.Engine.Extensibility.State"] = "Information",
                },
            },
        });
    }

    private sealed record Answer(int Code, TimeSpan Slowest);

    // One session: greeting, EHLO, MAIL FROM; the slowest of the greeting (connect hook) and MAIL (message hook).
    private static async Task<Answer> MailAsync(int port)
    {
        var watch = Stopwatch.StartNew();
        await using var c = await RawSmtpClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
        var greeting = watch.Elapsed;
        await SmtpAssert.EhloAsync(c);
        watch.Restart();
        var reply = await c.CommandAsync("MAIL FROM:<sender@remote.test>");
        var mail = watch.Elapsed;
        await c.CommandAsync("QUIT");
        return new Answer(reply.Code, greeting > mail ? greeting : mail);
    }

    private static long Count(string reply) => reply.StartsWith(':') ? long.Parse(reply[1..]) : throw new InvalidOperationException(reply);

    [Fact]
    public async Task Nodes_share_the_rate_limit_keep_serving_on_local_limits_while_redis_is_down_and_share_again_after()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var first = MtaProcess.Start("run", "--config", WriteConfig("first", redis));
        await using var second = MtaProcess.Start("run", "--config", WriteConfig("second", redis));
        var ports = new[] { await first.WaitForListenerAsync(), await second.WaitForListenerAsync() };

        // Each node counts its connections in Redis once connected to it.
        foreach (var port in ports)
            await Conditions.WaitUntilAsync(async () =>
            {
                var before = Count(await redis.CommandAsync("ZCARD", ConnectionsKey));
                await using (var c = await RawSmtpClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port))) { }
                return Count(await redis.CommandAsync("ZCARD", ConnectionsKey)) > before;
            }, $"node on port {port} counting in Redis", TimeSpan.FromSeconds(20));

        // Shared: three messages on each node use up the limit of six for both.
        for (var i = 0; i < MessagesPerMinute; i++) Assert.Equal(250, (await MailAsync(ports[i % 2])).Code);
        Assert.Equal(450, (await MailAsync(ports[0])).Code);
        Assert.Equal(450, (await MailAsync(ports[1])).Code);

        // Redis gone under a load of sessions on both nodes: every session is answered without waiting on Redis beyond
        // the timeout, and each node applies the limit to its own count (nothing was counted locally before).
        redis.Kill();
        var load = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => MailAsync(ports[i % 2])));
        var slowest = load.Max(a => a.Slowest);
        Assert.True(slowest < OperationTimeout + Slack, $"a session waited {slowest} for a reply");
        for (var node = 0; node < 2; node++)
        {
            var answers = load.Where((_, i) => i % 2 == node).ToArray();
            Assert.Equal(MessagesPerMinute, answers.Count(a => a.Code == 250));
            Assert.Equal(20 - MessagesPerMinute, answers.Count(a => a.Code == 450));
        }
        Assert.Contains("[1740]", first.Output);
        Assert.Contains("[1740]", second.Output);
        Assert.Single(first.Output.Split('\n'), line => line.Contains("[1740]"));

        // Back, empty, on the same port: each node heals by itself (the multiplexer reconnects, the breaker closes)
        // and says so once; a node still on its local count answers 450, a healed one counts in Redis again.
        await redis.RestartAsync();
        foreach (var (node, port) in new[] { (first, ports[0]), (second, ports[1]) })
            await Conditions.WaitUntilAsync(async () =>
            {
                await MailAsync(port);
                return node.Output.Contains("[1741]");
            }, "the node using Redis again", TimeSpan.FromSeconds(30));
        Assert.Single(first.Output.Split('\n'), line => line.Contains("[1741]"));

        // Shared again: whatever the probes counted, the two nodes together accept only what is left of the six.
        var counted = Count(await redis.CommandAsync("ZCARD", MessagesKey));
        Assert.InRange(counted, 1, MessagesPerMinute);
        var accepted = 0;
        for (var i = 0; i < 2 * MessagesPerMinute; i++)
        {
            var answer = await MailAsync(ports[i % 2]);
            if (answer.Code == 250) accepted++;
            else Assert.Equal(450, answer.Code);
        }
        Assert.Equal(MessagesPerMinute - counted, accepted);
        Assert.False(first.HasExited, first.Output);
        Assert.False(second.HasExited, second.Output);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
