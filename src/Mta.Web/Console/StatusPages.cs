// The console's status pages: the overview (now and the last hour), destinations, and recent deliveries.
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Mta.Engine.Status;

namespace Mta.Web.Console;

/// <summary>Renders the pages drawn from the engine's status services; a service the engine lacks shows as "not available".</summary>
internal static class StatusPages
{
    internal const int DeliveriesShown = 200;

    public static IResult Overview(HttpContext context, ConsoleSources sources)
    {
        var layout = new ConsoleLayout(context);
        if (sources.Status is not { } status)
            return layout.Page("Overview", "/", Html.Raw("<p class=\"empty\">The server status is not available.</p>"));
        var now = layout.Now;
        var snapshot = status.Snapshot();
        var history = status.History(TimeSpan.FromHours(1));
        var rates = snapshot.LastMinute;
        var queue = snapshot.Queue;
        var cards = Html.Of($"""
            <div class="cards">
            {Card("Uptime", ConsolePages.Age(snapshot.Uptime), $"since {ConsolePages.Time(snapshot.StartedAt)}")}
            {Card("Connections", Number(snapshot.ConnectionsOpen), $"open; {Rate(rates.Connections)}/min new")}
            {Card("Accepted", Rate(rates.Accepted) + "/min", $"{Rate(rates.Rejected)}/min rejected")}
            {Card("Delivered", Rate(rates.Delivered) + "/min", "last minute")}
            {Card("Deferred", Rate(rates.Deferred) + "/min", $"{Rate(rates.Failed)}/min failed")}
            {Card("Queue", Number(queue.Recipients), $"recipients in {Number(queue.Messages)} messages")}
            {Card("Oldest", queue.OldestAge is { } age ? ConsolePages.Age(age) : "–", "queued message")}
            </div>
            """);
        var states = Html.Of($"""
            <p class="muted">Queue by state:
            {ConsolePages.Badge("ready")} {queue.Ready} &nbsp; {ConsolePages.Badge("active")} {queue.Active} &nbsp;
            {ConsolePages.Badge("deferred")} {queue.Deferred} &nbsp; {ConsolePages.Badge("held")} {queue.Held}
            &nbsp;·&nbsp; Listeners: {string.Join(", ", snapshot.Listeners.Select(l => $"{l.Name} {l.EndPoint ?? "(not bound)"} ({l.Role}, TLS {l.Tls})"))}</p>
            """);
        var from = history.Count > 0 && history[0].At > now - TimeSpan.FromHours(1) ? history[0].At - TimeSpan.FromSeconds(10) : now - TimeSpan.FromHours(1);
        // Per-minute rates from the 10 s counts, so the charts read in the same unit as the cards.
        IReadOnlyList<(DateTimeOffset, double)> PerMinute(Func<ActivitySample, long> count) =>
            history.Select(s => (s.At, count(s) * 6.0)).ToArray();
        IReadOnlyList<(DateTimeOffset, double)> Level(Func<ActivitySample, long> level) =>
            history.Select(s => (s.At, (double)level(s))).ToArray();
        // Mail in and mail out apart: with most mail delivered at once, one line would hide the other.
        var received = SvgChart.Draw("Transactions accepted and rejected per minute over the last hour", from, now,
        [
            new("accepted", "#2f5bd3", PerMinute(s => s.Accepted)),
            new("rejected", "#8a94a8", PerMinute(s => s.Rejected)),
        ]);
        var attempts = SvgChart.Draw("Delivery attempts per minute over the last hour", from, now,
        [
            new("delivered", "#1f8a4c", PerMinute(s => s.Delivered)),
            new("deferred", "#d08a00", PerMinute(s => s.Deferred)),
            new("failed", "#c2352b", PerMinute(s => s.Failed)),
        ]);
        var depth = SvgChart.Draw("Queue depth and open connections over the last hour", from, now,
        [
            new("queued recipients", "#6b4fbb", Level(s => s.QueuePending)),
            new("open connections", "#0f8b8d", Level(s => s.ConnectionsOpen)),
        ]);
        var charts = Html.Of($"""
            <div class="charts">
            <div class="panel chart"><h2>Received, per minute</h2>{received}
            <div class="legend"><span><span class="swatch s-accepted"></span>accepted</span><span><span class="swatch s-rejected"></span>rejected</span></div></div>
            <div class="panel chart"><h2>Delivery attempts, per minute</h2>{attempts}
            <div class="legend"><span><span class="swatch s-delivered"></span>delivered</span><span><span class="swatch s-deferred"></span>deferred</span><span><span class="swatch s-failed"></span>failed</span></div></div>
            <div class="panel chart"><h2>Queue and connections</h2>{depth}
            <div class="legend"><span><span class="swatch s-pending"></span>queued recipients</span><span><span class="swatch s-connections"></span>open connections</span></div></div>
            </div>
            """);
        return layout.Page("Overview", "/", Html.Of($"{cards}{states}{charts}{Shape(snapshot.Shape)}"));
    }

    // qshape: recipients by destination domain and message age.
    private static Html Shape(QueueShape shape)
    {
        if (shape.Total.Total == 0) return Html.Raw("<h2>Queue shape</h2><p class=\"empty\">The queue is empty.</p>");
        var head = Html.Join(shape.BucketMinutes.Select(m => Html.Of($"<th class=\"num\">{m}</th>")));
        var last = shape.BucketMinutes.Count > 0 ? shape.BucketMinutes[^1] + "+" : "";
        Html Row(QueueShapeRow row, bool total) => Html.Of($"""
            <tr><td>{(total ? Html.Raw("<strong>TOTAL</strong>") : Html.Of($"<a href=\"/queue{Html.Query(("q", row.Domain))}\">{row.Domain}</a>"))}</td><td class="num">{row.Total}</td>{Html.Join(row.Buckets.Select(b => Html.Of($"<td class=\"num\">{(b == 0 ? "" : b.ToString(CultureInfo.InvariantCulture))}</td>")))}</tr>
            """);
        return Html.Of($"""
            <h2>Queue shape <span class="muted">(recipients by destination and message age in minutes; top {shape.Domains.Count} of {shape.DomainCount} domains)</span></h2>
            <table class="shape">
            <thead><tr><th>Domain</th><th class="num">T</th>{head}<th class="num">{last}</th></tr></thead>
            <tbody>{Row(shape.Total, true)}{Html.Join(shape.Domains.Select(d => Row(d, false)))}</tbody>
            </table>
            """);
    }

    public static IResult Destinations(HttpContext context, ConsoleSources sources)
    {
        var layout = new ConsoleLayout(context);
        if (sources.Destinations is not { } destinations)
            return layout.Page("Destinations", "/destinations", Html.Raw("<p class=\"empty\">Destination status is not available.</p>"));
        var now = layout.Now;
        var list = destinations.Destinations();
        var rows = Html.Join(list.Select(d => Html.Of($"""
            <tr>
            <td class="wrap mono">{DestinationLink(d.Destination)}</td>
            <td>{ConsolePages.Badge(d.CircuitState)}</td>
            <td class="num">{d.PendingRecipients}</td>
            <td class="nowrap">{(d.NextAttempt is { } next ? ConsolePages.When(next, now) : "")}</td>
            <td class="error">{d.LastError}</td>
            <td class="nowrap">{(d.LastErrorAt is { } at ? ConsolePages.Age(now - at) + " ago" : "")}</td>
            </tr>
            """)));
        var body = list.Count == 0
            ? Html.Raw("<p class=\"empty\">No destination has mail waiting or a recent error.</p>")
            : Html.Of($"""
                <p class="muted">Next hops with mail pending or an error in the last hour, most pending first. An open circuit defers its mail without trying until it half-opens; a flush closes it.</p>
                <table class="destinations">
                <thead><tr><th>Destination</th><th>Circuit</th><th class="num">Pending</th><th>Next attempt</th><th>Last error</th><th>When</th></tr></thead>
                <tbody>{rows}</tbody>
                </table>
                """);
        return layout.Page("Destinations", "/destinations", body);
    }

    // A domain links to its messages in the queue; a [host]:port or kind:target route has no search of its own.
    internal static Html DestinationLink(string? destination)
    {
        if (destination is null) return Html.Empty;
        // A route's key carries its settings after '|' (tls=..., user=...): the host and port name it for a reader.
        var name = destination.Split('|')[0];
        return name.Contains('[', StringComparison.Ordinal) || name.Contains(':', StringComparison.Ordinal)
            ? Html.Of($"<span title=\"{destination}\">{name}</span>")
            : Html.Of($"<a href=\"/queue{Html.Query(("q", name))}\" title=\"{destination}\">{name}</a>");
    }

    public static IResult Deliveries(HttpContext context, ConsoleSources sources)
    {
        var layout = new ConsoleLayout(context);
        if (sources.Deliveries is not { } deliveries)
            return layout.Page("Recent deliveries", "/deliveries", Html.Raw("<p class=\"empty\">Recent deliveries are not available.</p>"));
        var now = layout.Now;
        var list = deliveries.Recent(DeliveriesShown);
        var rows = Html.Join(list.Select(d => Html.Of($"""
            <tr>
            <td class="nowrap" title="{ConsolePages.Time(d.At)}">{ConsolePages.Age(now - d.At)} ago</td>
            <td class="id"><a href="{ConsoleActions.MessagePath(d.QueueId)}">{d.QueueId}</a></td>
            <td class="wrap">{d.Recipient}</td>
            <td>{ConsolePages.Badge(d.Outcome)}</td>
            <td>{d.RouteKind}</td>
            <td class="wrap mono">{DestinationLink(d.Destination)}</td>
            <td class="num">{Duration(d.Duration)}</td>
            <td class="{(d.Outcome == "delivered" ? "reply" : "error")}">{d.Reply}</td>
            </tr>
            """)));
        var body = list.Count == 0
            ? Html.Raw("<p class=\"empty\">No delivery attempt since the server started.</p>")
            : Html.Of($"""
                <p class="muted">The last {list.Count} delivery attempts, newest first, one line per recipient. Older ones are in the log, by queue id.</p>
                <table class="deliveries">
                <thead><tr><th>When</th><th>Queue id</th><th>Recipient</th><th>Outcome</th><th>Route</th><th>Destination</th><th class="num">Took</th><th>Reply</th></tr></thead>
                <tbody>{rows}</tbody>
                </table>
                """);
        return layout.Page("Recent deliveries", "/deliveries", body);
    }

    private static Html Card(string label, string value, string sub) =>
        Html.Of($"<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div><div class=\"sub\">{sub}</div></div>");

    private static string Number(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Rate(double perMinute) => perMinute.ToString(perMinute >= 100 ? "#,0" : "0.#", CultureInfo.InvariantCulture);

    private static string Duration(TimeSpan duration) => duration.TotalSeconds >= 1
        ? duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : ((int)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + " ms";
}
