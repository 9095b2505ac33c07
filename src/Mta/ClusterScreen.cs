// What `mta status --cluster` prints: one row per node with its state, health and queue, or why there is no view.
using System.Globalization;
using System.Text;
using Mta.Engine.Cluster;

namespace Mta;

/// <summary>The text of the cluster view, laid out as a table an operator reads across.</summary>
public static class ClusterScreen
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>A table of <paramref name="view"/>'s nodes, or "cluster view unavailable: REASON".</summary>
    public static string Render(ClusterView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var text = new StringBuilder();
        if (!view.Available)
            return text.Append("cluster view unavailable: ").Append(view.Unavailable).Append('\n').ToString();
        var up = view.Nodes.Count(n => n.State == NodeState.Up);
        text.Append(Invariant, $"Cluster: {view.Nodes.Count} node{(view.Nodes.Count == 1 ? "" : "s")}, {up} up (read by {view.Self} at {view.At.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC)\n\n");
        var rows = new List<string[]>
        {
            new[] { "NODE", "STATE", "LAST BEAT", "HOST", "UP", "READY", "ACTIVE", "DEFERRED", "HELD", "OLDEST", "CONN", "ACC/MIN", "HEALTH" },
        };
        foreach (var node in view.Nodes)
        {
            var beat = node.Heartbeat;
            var q = beat.Queue;
            rows.Add(
            [
                node.Node + (node.Node == view.Self ? "*" : ""),
                node.State.ToString().ToLowerInvariant(),
                StatusCommand.Duration(node.LastBeatAge) + " ago",
                beat.HostName,
                StatusCommand.Duration(beat.At - beat.StartedAt),
                q.Ready.ToString(Invariant), q.Active.ToString(Invariant), q.Deferred.ToString(Invariant), q.Held.ToString(Invariant),
                q.OldestAge is { } oldest ? StatusCommand.Duration(oldest) : "-",
                beat.ConnectionsOpen.ToString(Invariant),
                beat.AcceptedLastMinute.ToString("0.#", Invariant),
                Health(node),
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                // Text columns to the left, counts to the right, as `mta queue list` does; the last column unpadded.
                var numeric = c is >= 5 and <= 11;
                var cell = c == row.Length - 1 ? row[c] : numeric ? row[c].PadLeft(widths[c]) : row[c].PadRight(widths[c]);
                text.Append(cell).Append(c == row.Length - 1 ? "" : "  ");
            }
            text.Append('\n');
        }
        text.Append("\n* this node. A down node's queue waits for it: its mail is delivered when it starts again.\n");
        foreach (var warning in view.Warnings) text.Append("warning: ").Append(warning).Append('\n');
        return text.ToString();
    }

    // A down node's last word is old news: say so rather than show "ok" as if it were current.
    private static string Health(ClusterNode node)
    {
        var health = node.Heartbeat.Health;
        var said = health.Ready ? "ok" : "not ready: " + health.Problem;
        return node.State == NodeState.Up ? said : "(last said: " + said + ")";
    }
}
