// The console's read-only pages: overview, queue browser, one message, destinations, recent deliveries.
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Mta.Engine.Control;

namespace Mta.Web.Console;

/// <summary>Renders each page on the server from the engine's read APIs; every value shown is encoded (<see cref="Html"/>).</summary>
internal sealed class ConsolePages(ConsoleSources sources)
{
    internal const int PageSize = 50;

    public void Map(IEndpointRouteBuilder read)
    {
        read.MapGet("/", (HttpContext context) => StatusPages.Overview(context, sources));
        read.MapGet("/queue", Queue);
        read.MapGet("/queue/{id}", MessageAsync);
        read.MapGet("/destinations", (HttpContext context) => StatusPages.Destinations(context, sources));
        read.MapGet("/deliveries", (HttpContext context) => StatusPages.Deliveries(context, sources));
        read.MapGet(ClusterPage.Path, (Func<HttpContext, Task<IResult>>)(context => ClusterPage.RenderAsync(context, sources)));
    }

    private IResult Queue(HttpContext context, string? q, string? state, int? page)
    {
        var layout = new ConsoleLayout(context);
        var text = q?.Trim();
        if (text is { Length: > 256 }) text = text[..256];
        QueueRecipientState? wanted = Enum.TryParse<QueueRecipientState>(state, ignoreCase: true, out var parsed) && parsed.IsPending() ? parsed : null;
        var number = Math.Clamp(page ?? 1, 1, int.MaxValue / PageSize);
        // One page is copied out of the queue, never the whole of it (a queue of 100k messages costs what one of 100 does).
        var (total, entries) = sources.Queue.Search(new QueueQuery(text, wanted), (number - 1) * PageSize, PageSize);
        var pages = Math.Max(1, (total + PageSize - 1) / PageSize);
        var now = layout.Now;

        var options = Html.Join(new[] { "", "ready", "active", "deferred", "held" }.Select(s => s == (wanted?.ToDisplayName() ?? "")
            ? Html.Of($"<option value=\"{s}\" selected>{(s.Length == 0 ? "any state" : s)}</option>")
            : Html.Of($"<option value=\"{s}\">{(s.Length == 0 ? "any state" : s)}</option>")));
        var flushAll = layout.IsAdmin ? layout.ActionButton("/queue/flush", "Flush all deferred", "primary") : Html.Empty;
        var rows = Html.Join(entries.Select(m => QueueRow(m, now)));
        var table = entries.Count == 0
            ? Html.Of($"<p class=\"empty\">{(total == 0 && string.IsNullOrEmpty(text) && wanted is null ? "The queue is empty." : "No message matches.")}</p>")
            : Html.Of($"""
                <table class="queue">
                <thead><tr><th>Queue id</th><th>Received</th><th class="num">Size</th><th>Sender</th><th>Recipients</th><th>State</th><th class="num">Attempts</th><th>Next attempt</th><th>Last error</th></tr></thead>
                <tbody>{rows}</tbody>
                </table>
                """);
        string Link(int n) => "/queue" + Html.Query(("q", text), ("state", wanted?.ToDisplayName()), ("page", n == 1 ? null : n.ToString(CultureInfo.InvariantCulture)));
        var previous = number > 1 ? Html.Of($"<a href=\"{Link(number - 1)}\" rel=\"prev\">← Previous</a>") : Html.Empty;
        var next = number < pages ? Html.Of($"<a href=\"{Link(number + 1)}\" rel=\"next\">Next →</a>") : Html.Empty;
        var from = total == 0 ? 0 : (number - 1) * PageSize + 1;
        var to = Math.Min(total, number * PageSize);
        var body = Html.Of($"""
            {Notice(context)}
            <form class="search" method="get" action="/queue" role="search">
              <input type="search" name="q" value="{text}" placeholder="Sender, recipient, domain or queue id" aria-label="Search">
              <select name="state" aria-label="State">{options}</select>
              <button type="submit">Search</button>
            </form>
            <div class="toolbar">
              <span class="muted">{from}–{to} of {total} message(s)</span>
              <span class="pager">{previous} <span class="muted">page {number} of {pages}</span> {next}</span>
              <span>{flushAll}</span>
            </div>
            {table}
            """);
        return layout.Page("Queue", "/queue", body);
    }

    private static Html QueueRow(QueueEntrySnapshot message, DateTimeOffset now)
    {
        var pending = message.Recipients.Where(r => r.State.IsPending()).ToArray();
        var shown = message.Recipients.Take(3).Select(r => r.Address);
        var more = message.Recipients.Count > 3 ? $" +{message.Recipients.Count - 3} more" : "";
        var next = pending.Where(r => r.NextAttempt is not null).Select(r => r.NextAttempt!.Value).DefaultIfEmpty().Min();
        var error = pending.Select(r => r.LastError).FirstOrDefault(e => e is not null);
        return Html.Of($"""
            <tr>
            <td class="id"><a href="{ConsoleActions.MessagePath(message.QueueId)}">{message.QueueId}</a></td>
            <td class="nowrap" title="{Time(message.ReceivedAt)}">{Age(now - message.ReceivedAt)} ago</td>
            <td class="num">{Size(message.Size)}</td>
            <td class="wrap">{Sender(message.Sender)}</td>
            <td class="wrap">{string.Join(", ", shown)}{more}</td>
            <td>{StateBadges(message.Recipients)}</td>
            <td class="num">{pending.Select(r => r.Attempts).DefaultIfEmpty().Max()}</td>
            <td class="nowrap">{(next == default ? "" : When(next, now))}</td>
            <td class="error">{Shorten(error, 120)}</td>
            </tr>
            """);
    }

    private async Task<IResult> MessageAsync(HttpContext context, string id)
    {
        var layout = new ConsoleLayout(context);
        var message = sources.Queue.Find(id);
        if (message is null)
            return layout.Page("Message not found", "/queue", Html.Of($"<p class=\"empty\">No message {id} in the queue: delivered, bounced or deleted since.</p><p><a href=\"/queue\">Back to the queue</a></p>"), StatusCodes.Status404NotFound);
        var now = layout.Now;
        var recipients = Html.Join(message.Recipients.Select(r => Html.Of($"""
            <tr>
            <td class="wrap">{r.Address}</td>
            <td>{Badge(r.State.ToDisplayName())}</td>
            <td class="num">{r.Attempts}</td>
            <td>{(r.NextAttempt is { } at ? When(at, now) : "")}</td>
            <td class="error">{r.LastError}</td>
            </tr>
            """)));
        var actions = Html.Empty;
        if (layout.IsAdmin)
        {
            var path = ConsoleActions.MessagePath(message.QueueId);
            // Only what applies: a flush for deferred recipients, a hold for pending ones, a release for held ones.
            var states = message.Recipients.Select(r => r.State).ToHashSet();
            var flush = states.Contains(QueueRecipientState.Deferred) ? layout.ActionButton(path + "/flush", "Flush", "primary") : Html.Empty;
            var hold = states.Overlaps([QueueRecipientState.Ready, QueueRecipientState.Active, QueueRecipientState.Deferred])
                ? layout.ActionButton(path + "/hold", "Hold") : Html.Empty;
            var release = states.Contains(QueueRecipientState.Held) ? layout.ActionButton(path + "/release", "Release", "primary") : Html.Empty;
            var delete = states.Any(s => s.IsPending()) ? layout.ActionButton(path + "/delete", "Delete", "danger") : Html.Empty;
            actions = Html.Of($"<div class=\"actions\">{flush}{hold}{release}{delete}</div>");
        }
        var headers = await HeadersAsync(message.QueueId, context.RequestAborted);
        var body = Html.Of($"""
            {Notice(context)}
            {actions}
            <div class="panel">
            <dl class="envelope">
              <dt>Queue id</dt><dd class="mono">{message.QueueId}</dd>
              <dt>Received</dt><dd>{Time(message.ReceivedAt)} ({Age(now - message.ReceivedAt)} ago)</dd>
              <dt>Size</dt><dd>{Size(message.Size)}</dd>
              <dt>Sender</dt><dd class="mono">{Sender(message.Sender)}</dd>
              <dt>Recipients</dt><dd>{message.Recipients.Count}</dd>
            </dl>
            </div>
            <h2>Recipients</h2>
            <table class="recipients">
            <thead><tr><th>Recipient</th><th>State</th><th class="num">Attempts</th><th>Next attempt</th><th>Last error</th></tr></thead>
            <tbody>{recipients}</tbody>
            </table>
            <h2>Headers</h2>
            {headers}
            """);
        return layout.Page("Message " + message.QueueId, "/queue", body);
    }

    private async Task<Html> HeadersAsync(string id, CancellationToken cancellationToken)
    {
        MessageHeaders.Section section;
        try
        {
            await using var stream = sources.Queue.OpenMessage(id);
            if (stream is null) return Html.Raw("<p class=\"empty\">The message is no longer stored.</p>");
            section = await MessageHeaders.ReadAsync(stream, cancellationToken);
        }
        catch (IOException ex)
        {
            return Html.Of($"<p class=\"warning\">The stored message cannot be read: {ex.Message}</p>");
        }
        var rows = Html.Join(section.Fields.Select(f => Html.Of($"<tr><td>{f.Name}</td><td>{f.Value}</td></tr>")));
        var truncated = section.Truncated
            ? Html.Of($"<p class=\"warning\">The header section is longer than {MessageHeaders.MaxBytes / 1024} KiB; the rest is not shown.</p>")
            : Html.Empty;
        return Html.Of($"{truncated}<table class=\"headers\"><tbody>{rows}</tbody></table>");
    }



    // What the action just done did, from the code in the redirect (never free text from the URL).
    private static Html Notice(HttpContext context)
    {
        var query = context.Request.Query;
        if (!int.TryParse(query["n"], NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return Html.Empty;
        string? text = (string?)query["done"] switch
        {
            "flushed" => $"Flushed: {n} recipient(s) due now.",
            "deleted" => $"Deleted: {n} recipient(s) removed, without a DSN.",
            "held" => $"Held: {n} recipient(s) on hold until released.",
            "released" => $"Released: {n} recipient(s) due now.",
            _ => null,
        };
        return text is null ? Html.Empty : Html.Of($"<p class=\"notice\" role=\"status\">{text}</p>");
    }

    internal static Html Badge(string state) => Html.Of($"<span class=\"badge b-{state}\">{state}</span>");

    private static Html StateBadges(IReadOnlyList<RecipientSnapshot> recipients) =>
        Html.Join(recipients.GroupBy(r => r.State).OrderBy(g => g.Key).Select(g => g.Count() == 1
            ? Badge(g.Key.ToDisplayName())
            : Html.Of($"<span class=\"badge b-{g.Key.ToDisplayName()}\">{g.Key.ToDisplayName()} ×{g.Count()}</span>")));

    internal static string Sender(string sender) => sender.Length == 0 ? "<> (bounce)" : sender;

    internal static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    internal static string When(DateTimeOffset at, DateTimeOffset now) => at <= now ? "due now" : "in " + Age(at - now);

    internal static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        if (age.TotalMinutes < 1) return $"{(int)age.TotalSeconds}s";
        if (age.TotalHours < 1) return $"{(int)age.TotalMinutes}m {age.Seconds}s";
        if (age.TotalDays < 1) return $"{(int)age.TotalHours}h {age.Minutes}m";
        return $"{(int)age.TotalDays}d {age.Hours}h";
    }

    internal static string Size(long octets) => octets switch
    {
        < 1024 => $"{octets} B",
        < 1024 * 1024 => (octets / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => (octets / 1048576.0).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
    };

    internal static string? Shorten(string? text, int max) => text is null || text.Length <= max ? text : text[..(max - 1)] + "…";
}
