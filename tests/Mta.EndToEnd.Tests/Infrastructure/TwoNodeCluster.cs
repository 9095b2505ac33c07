// Two real `mta run` nodes sharing a private Redis, behind a private HAProxy that sends PROXY v2: the scale-out topology.
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Starts redis-server, node1 and node2 (each its own data directory, Maildir and queue; <c>State:Provider=Redis</c>;
/// a listener that takes PROXY v2 from 127.0.0.1 only) and HAProxy in front (tcp mode, roundrobin, send-proxy-v2,
/// SMTP health checks every 200 ms). The nodes listen on fixed ports so that a killed node restarts where HAProxy
/// expects it. Everything is killed in Dispose.
/// </summary>
public sealed partial class TwoNodeCluster : IAsyncDisposable
{
    public const string Frontend = "mx";
    private readonly string _root;
    private readonly Dictionary<string, object?>? _extra;
    private readonly MtaProcess?[] _nodes = new MtaProcess?[2];

    private readonly bool _sharedHostName;

    private TwoNodeCluster(string root, RedisServer redis, int[] ports, Dictionary<string, object?>? extra, bool sharedHostName)
    {
        _sharedHostName = sharedHostName;
        _root = root;
        Redis = redis;
        Ports = ports;
        _extra = extra;
    }

    public RedisServer Redis { get; }

    public HaproxyServer Haproxy { get; private set; } = null!;

    /// <summary>The nodes' SMTP ports (node1, node2).</summary>
    public int[] Ports { get; }

    /// <summary>Where clients connect: HAProxy's frontend.</summary>
    public IPEndPoint EndPoint => Haproxy.EndPoint(Frontend);

    public static string NodeName(int index) => $"node{index + 1}";

    public string DataDirectory(int index) => Path.Combine(_root, NodeName(index));

    public string ConfigPath(int index) => Path.Combine(DataDirectory(index), "mta.config.json");

    public MtaProcess Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"{NodeName(index)} is not running");

    /// <summary>Skips the test unless redis-server and haproxy are installed.</summary>
    public static void SkipUnlessInstalled()
    {
        RedisServer.SkipUnlessInstalled();
        HaproxyServer.SkipUnlessInstalled();
    }

    /// <param name="extra">More top-level config members for both nodes (scripts, plugins, settings).</param>
    /// <param name="sharedHostName">Both nodes greet as <c>mx.test</c> (one MX; the node name tells them apart), or each
    /// as <c>NODE.mx.test</c>, so a client sees in the greeting which node answered.</param>
    public static async Task<TwoNodeCluster> StartAsync(Dictionary<string, object?>? extra = null, bool sharedHostName = true)
    {
        var root = Directory.CreateTempSubdirectory("mta-cluster-").FullName;
        var redis = await RedisServer.StartAsync();
        var cluster = new TwoNodeCluster(root, redis, [HaproxyServer.FreeLoopbackPort(), HaproxyServer.FreeLoopbackPort()], extra, sharedHostName);
        try
        {
            for (var i = 0; i < 2; i++) cluster.WriteConfig(i);
            await Task.WhenAll(cluster.StartNodeAsync(0), cluster.StartNodeAsync(1));
            cluster.Haproxy = await HaproxyServer.StartAsync(new HaproxyServer.Frontend(Frontend,
                [(NodeName(0), cluster.Ports[0]), (NodeName(1), cluster.Ports[1])],
                "send-proxy-v2 check check-send-proxy inter 200ms fall 2 rise 2", "option smtpchk EHLO haproxy.test"));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private void WriteConfig(int index)
    {
        var extra = new Dictionary<string, object?>
        {
            // One name for the MX, as behind one balancer; the node name tells them apart.
            ["HostName"] = _sharedHostName ? "mx.test" : $"{NodeName(index)}.mx.test",
            ["Listeners"] = new[]
            {
                new { Name = "smtp", Address = "127.0.0.1", Port = Ports[index], ProxyProtocol = "V2", ProxyNetworks = new[] { "127.0.0.1/32" } },
            },
            ["Node"] = new { Name = NodeName(index), HeartbeatInterval = "00:00:00.500" },
            ["State"] = new { Provider = "Redis", Redis = new { Configuration = Redis.Configuration } },
            ["Limits"] = new { MaxConnectionsPerIp = 500 },
        };
        foreach (var (key, value) in _extra ?? []) extra[key] = value;
        MtaProcess.WriteConfig(DataDirectory(index), Ports[index], extra: extra);
    }

    /// <summary>The build output of a project of this repository (e.g. <c>plugins/Mta.Plugins.Greylist</c>), built before the tests.</summary>
    public static string BuildOutput(string project)
    {
        var output = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        var configuration = Path.GetFileName(Path.GetDirectoryName(output))!;
        var repository = output;
        while (!File.Exists(Path.Combine(repository, "Mta.sln"))) repository = Path.GetDirectoryName(repository)!;
        return Path.Combine(repository, project, "bin", configuration, "net10.0");
    }

    /// <summary>Starts (or restarts, after <see cref="Kill"/>) node <paramref name="index"/> and waits for its listener.</summary>
    public async Task StartNodeAsync(int index)
    {
        var node = MtaProcess.Start("run", "--config", ConfigPath(index));
        _nodes[index] = node;
        await node.WaitForListenerAsync(timeout: TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGKILL: the node gets no chance to flush, say goodbye to Redis or finish a session.</summary>
    public async Task KillAsync(int index)
    {
        var node = Node(index);
        node.Kill();
        await node.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await node.DisposeAsync();
        _nodes[index] = null;
    }

    /// <summary>SIGTERM, as systemctl stop: the node drains and says goodbye.</summary>
    public async Task StopNodeAsync(int index)
    {
        var node = Node(index);
        node.Terminate();
        await node.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await node.DisposeAsync();
        _nodes[index] = null;
    }

    /// <summary><c>mta status --cluster --json</c> as run beside node <paramref name="index"/>.</summary>
    public async Task<(int ExitCode, string Output)> StatusAsync(int index, bool json) =>
        await MtaProcess.RunToEndAsync(json ? ["status", "--cluster", "--json", "--config", ConfigPath(index)] : ["status", "--cluster", "--config", ConfigPath(index)]);

    /// <summary>Each node's state in the cluster view read through node <paramref name="index"/>; empty when unavailable.</summary>
    public async Task<Dictionary<string, string>> NodeStatesAsync(int index)
    {
        var (code, output) = await StatusAsync(index, json: true);
        if (code != 0) throw new InvalidOperationException($"mta status --cluster exited {code}: {output}");
        using var document = JsonDocument.Parse(output);
        var states = new Dictionary<string, string>();
        if (!document.RootElement.GetProperty("available").GetBoolean()) return states;
        foreach (var node in document.RootElement.GetProperty("nodes").EnumerateArray())
            states[node.GetProperty("node").GetString()!] = node.GetProperty("state").GetString()!;
        return states;
    }

    /// <summary>The nodes named in the Received fields of delivered messages (<c>by mx.test (Mta node NAME)</c>).</summary>
    public HashSet<string> ReceivedBy { get; } = new(StringComparer.Ordinal);

    /// <summary>Message-ID of every message delivered to any Maildir of either node, with how often it was delivered.</summary>
    public async Task<Dictionary<string, int>> DeliveredMessageIdsAsync()
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < 2; i++)
        {
            var maildir = Path.Combine(DataDirectory(i), "maildir");
            if (!Directory.Exists(maildir)) continue;
            foreach (var file in Directory.EnumerateFiles(maildir, "*", SearchOption.AllDirectories))
            {
                if (!file.Contains($"{Path.DirectorySeparatorChar}new{Path.DirectorySeparatorChar}", StringComparison.Ordinal)) continue;
                string text;
                try { text = await File.ReadAllTextAsync(file); }
                catch (IOException) { continue; }
                var match = MessageIdField().Match(text);
                if (match.Success) seen[match.Groups[1].Value] = seen.GetValueOrDefault(match.Groups[1].Value) + 1;
                if (ReceivedByNode().Match(text) is { Success: true } by) ReceivedBy.Add(by.Groups[1].Value);
            }
        }
        return seen;
    }

    /// <summary>Everything the nodes, Redis and HAProxy printed, for a failure message.</summary>
    public string Output => string.Join("\n", _nodes.Select((n, i) => $"--- {NodeName(i)} ---\n{n?.Output}"))
                            + $"\n--- haproxy ---\n{Haproxy?.Output}";

    [GeneratedRegex(@"^Message-ID: <([^>]+)>", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex MessageIdField();

    [GeneratedRegex(@"\tby \S+ \(Mta node ([a-z0-9-]+)\) with ")]
    private static partial Regex ReceivedByNode();

    public async ValueTask DisposeAsync()
    {
        if (Haproxy is not null) await Haproxy.DisposeAsync();
        foreach (var node in _nodes) if (node is not null) await node.DisposeAsync();
        await Redis.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
