// The console's status pages: destinations and recent deliveries.
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Mta.Engine.Status;

namespace Mta.Web.Console;

/// <summary>Renders the pages drawn from the engine's status services; a service the engine lacks shows as "not available".</summary>
internal static class StatusPages
{
    internal const int DeliveriesShown = 200;

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
    private static Html DestinationLink(string destination) =>
        destination.Contains('[', StringComparison.Ordinal) || destination.Contains(':', StringComparison.Ordinal)
            ? Html.Text(destination)
            : Html.Of($"<a href=\"/queue{Html.Query(("q", destination))}\">{destination}</a>");

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
            <td class="wrap mono">{d.Destination}</td>
            <td class="num">{Duration(d.Duration)}</td>
            <td class="{(d.Outcome == "delivered" ? "wrap" : "error")}">{d.Reply}</td>
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
