// Where the policy state of plugins, scripts and the AUTH failure limiter lives: this process, or Redis shared by nodes.
namespace Mta.Engine.Configuration;

/// <summary>Which store keeps policy state (rate-limit counters, greylist triplets, AUTH failures).</summary>
public enum StateProvider
{
    /// <summary>In this process's memory: the single-node default, lost on restart.</summary>
    Memory,

    /// <summary>In Redis, shared by every node that names the same server and key prefix.</summary>
    Redis,
}

/// <summary>The <c>State</c> section: the policy-state store (docs/scale-out.md).</summary>
public sealed class StateOptions
{
    /// <summary><c>Memory</c> (default) or <c>Redis</c>.</summary>
    public StateProvider Provider { get; set; } = StateProvider.Memory;

    /// <summary>The Redis server, read when <see cref="Provider"/> is <c>Redis</c>.</summary>
    public RedisOptions Redis { get; set; } = new();
}

/// <summary>The <c>State:Redis</c> section.</summary>
public sealed class RedisOptions
{
    /// <summary>A StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379,password=secret</c>.</summary>
    public string? Configuration { get; set; }

    /// <summary>Prefixed to every key Mta writes, so several sites can share one Redis. Defaults to <c>mta:</c>.</summary>
    public string KeyPrefix { get; set; } = "mta:";

    /// <summary>How long one state operation may take before the caller falls back (fail open or local limit).
    /// Defaults to 250 ms: a session never waits on Redis longer than this per call.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long to wait for the first connection at start-up before going on without Redis. Defaults to 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Once Redis has failed calls in a row, how long every state call falls back at once without trying
    /// Redis; then one call probes it again. Defaults to 5 s (0.5 s to 1 hour).</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The <c>Node</c> section: this node's identity among several behind one MX or load balancer.</summary>
public sealed class NodeOptions
{
    /// <summary>This node's name in Received fields, logs, queue ids and the cluster view. Defaults to the first label
    /// of <see cref="MtaOptions.HostName"/>; two nodes sharing a Redis must not share a name.</summary>
    public string? Name { get; set; }
}
