// The console's cluster page: every node sharing this one's Redis, with its state, health and queue, from the heartbeats.
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Mta.Engine.Cluster;

namespace Mta.Web.Console;

/// <summary>Renders the cluster view as <c>mta status --cluster</c> prints it; Redis away makes it say so, never fail.</summary>
internal static class ClusterPage
{
    public const string Path = "/cluster";

    public static async Task<IResult> RenderAsync(HttpContext context, ConsoleSources sources)
    {
        var layout = new ConsoleLayout(context);
        if (sources.Cluster is not { } cluster)
            return layout.Page("Cluster", Path, Html.Raw("<p class=\"empty\">The cluster view is not available.</p>"));
        var view = await cluster.ReadAsync(context.RequestAborted);
        if (!view.Available)
            return layout.Page("Cluster", Path, Html.Of($"<p class=\"empty\">Cluster view unavailable: {view.Unavailable}</p>"));
        var rows = Html.Join(view.Nodes.Select(node =>
        {
            var beat = node.Heartbeat;
            var q = beat.Queue;
            var health = beat.Health.Ready ? "ok" : "not ready: " + beat.Health.Problem;
            return Html.Of($"""
                <tr>
                <td class="nowrap">{(node.Node == view.Self ? Html.Of($"<strong>{node.Node}</strong> (this node)") : Html.Of($"{node.Node}"))}</td>
                <td>{ConsolePages.Badge(node.State.ToString().ToLowerInvariant())}</td>
                <td class="nowrap" title="{ConsolePages.Time(beat.At)}">{ConsolePages.Age(node.LastBeatAge)} ago</td>
                <td class="wrap">{beat.HostName}<br><span class="muted">{beat.Version}, ids tagged {beat.QueueIdTag}</span></td>
                <td class="nowrap">{ConsolePages.Age(beat.At - beat.StartedAt)}</td>
                <td class="wrap mono">{string.Join(", ", beat.Listeners.Select(l => $"{l.Name} {l.EndPoint ?? "(not bound)"}"))}</td>
                <td class="num">{q.Ready}</td><td class="num">{q.Active}</td><td class="num">{q.Deferred}</td><td class="num">{q.Held}</td>
                <td class="nowrap">{(q.OldestAge is { } oldest ? ConsolePages.Age(oldest) : "–")}</td>
                <td class="num">{beat.ConnectionsOpen}</td>
                <td class="num">{beat.AcceptedLastMinute.ToString("0.#", CultureInfo.InvariantCulture)}</td>
                <td class="{(beat.Health.Ready ? "reply" : "error")}">{(node.State == NodeState.Up ? health : "last said: " + health)}</td>
                </tr>
                """);
        }));
        var warnings = Html.Join(view.Warnings.Select(w => Html.Of($"<p class=\"warning\">{w}</p>")));
        var body = view.Nodes.Count == 0
            ? Html.Raw("<p class=\"empty\">No node has published a heartbeat yet.</p>")
            : Html.Of($"""
                <p class="muted">Nodes sharing this node's Redis, from the heartbeats they publish every few seconds. A node is down after three missed beats; its queue waits for it and is delivered when it starts again.</p>
                {warnings}
                <table class="cluster">
                <thead><tr><th>Node</th><th>State</th><th>Last beat</th><th>Host</th><th>Up</th><th>Listeners</th><th class="num">Ready</th><th class="num">Active</th><th class="num">Deferred</th><th class="num">Held</th><th>Oldest</th><th class="num">Conn.</th><th class="num">Acc./min</th><th>Health</th></tr></thead>
                <tbody>{rows}</tbody>
                </table>
                """);
        return layout.Page("Cluster", Path, body);
    }
}
