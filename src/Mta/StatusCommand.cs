// `mta status`: one screen of the running server (uptime, listeners, connections, last-minute rates, queue, qshape table).
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Mta.Engine.Cluster;
using Mta.Engine.Control;
using Mta.Engine.Status;

namespace Mta;

/// <summary>The <c>status</c> command. Exit codes as <c>mta queue</c>: 0 done, 1 the server failed, 2 bad usage or
/// configuration, 3 no running server.</summary>
public static class StatusCommand
{
    private const int Ok = 0;
    private const int LabelWidth = 14;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>Builds <c>mta status</c>, sharing the root's <c>--config</c> option (it finds the server's control socket).</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var json = new Option<bool>("--json") { Description = "The raw snapshot as one JSON object, for scripts and monitoring" };
        var top = new Option<int>("--top", "-n")
        {
            Description = $"Destination domains in the queue shape table (default {ServerStatus.DefaultTopDomains}; 0: the TOTAL row only)",
            DefaultValueFactory = _ => ServerStatus.DefaultTopDomains,
        };
        var cluster = new Option<bool>("--cluster")
        {
            Description = "Every node sharing this one's Redis (State:Provider=Redis): state, health and queue per node, from their heartbeats",
        };
        var status = new Command("status", "Show the running server at a glance: uptime, listeners, connections, last-minute rates, queue by state and age (qshape)")
        {
            json, top, cluster, configOption,
        };
        status.TreatUnmatchedTokensAsErrors = false;
        status.SetAction((parse, cancellationToken) => parse.GetValue(cluster)
            ? RunClusterAsync(parse, configOption, parse.GetValue(json), cancellationToken)
            : RunAsync(parse, configOption, parse.GetValue(json), parse.GetValue(top), cancellationToken));
        return status;
    }

    // The local server reads the cluster from Redis; when it cannot, this node's own status follows the reason, so the
    // operator still sees the node in front of them (Redis down never breaks `mta status`).
    private static Task<int> RunClusterAsync(ParseResult parse, Option<FileInfo?> configOption, bool json, CancellationToken cancellationToken) =>
        QueueCommand.RunAsync(parse, configOption, null, async (client, ct) =>
        {
            var response = await client.RequestAsync(ClusterControlCommand.CommandName, null, ct);
            response.EnsureOk();
            if (json)
            {
                Console.WriteLine(response.Result.GetRawText());
                return Ok;
            }
            var view = response.GetResult(ClusterJsonContext.Default.ClusterView);
            Console.Write(ClusterScreen.Render(view));
            if (!view.Available)
            {
                var local = await client.RequestAsync(StatusControlCommand.CommandName, new JsonObject { ["top"] = 0 }, ct);
                local.EnsureOk();
                Console.Write("\n" + Render(local.GetResult(StatusJsonContext.Default.ServerStatusSnapshot)));
            }
            return Ok;
        }, cancellationToken);

    // Usage and configuration first (exit 2), then the socket (exit 3 when no server), as `mta queue` does.
    private static Task<int> RunAsync(ParseResult parse, Option<FileInfo?> configOption, bool json, int top, CancellationToken cancellationToken) =>
        QueueCommand.RunAsync(parse, configOption, top < 0 ? "--top must be 0 or more" : null, async (client, ct) =>
        {
            var response = await client.RequestAsync(StatusControlCommand.CommandName, new JsonObject { ["top"] = top }, ct);
            response.EnsureOk();
            if (json) Console.WriteLine(response.Result.GetRawText());
            else Console.Write(Render(response.GetResult(StatusJsonContext.Default.ServerStatusSnapshot)));
            return Ok;
        }, cancellationToken);

    /// <summary>The screen <c>mta status</c> prints for <paramref name="status"/>: a few labelled lines an operator
    /// reads top to bottom, then the qshape table laid out as Postfix's qshape prints it.</summary>
    public static string Render(ServerStatusSnapshot status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var text = new StringBuilder();
        text.Append(Invariant, $"{status.HostName}: Mta {status.Version}, up {Duration(status.Uptime)} (since {status.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC)\n\n");

        if (status.Listeners.Count == 0) Line(text, "Listeners", "none");
        var nameWidth = status.Listeners.Count == 0 ? 0 : status.Listeners.Max(l => l.Name.Length);
        var endPointWidth = status.Listeners.Count == 0 ? 0 : status.Listeners.Max(l => (l.EndPoint ?? "(not bound)").Length);
        for (var i = 0; i < status.Listeners.Count; i++)
        {
            var l = status.Listeners[i];
            Line(text, i == 0 ? "Listeners" : "", $"{l.Name.PadRight(nameWidth)}  {(l.EndPoint ?? "(not bound)").PadRight(endPointWidth)}  {l.Role,-10}  tls {l.Tls}");
        }
        Line(text, "Connections", $"{status.ConnectionsOpen.ToString(Invariant)} open");
        var r = status.LastMinute;
        Line(text, "Last minute", $"{Number(r.Connections)} {(r.Connections == 1 ? "connection" : "connections")}, {Number(r.Accepted)} accepted, {Number(r.Rejected)} rejected"
            + $" | {Number(r.Delivered)} delivered, {Number(r.Deferred)} deferred, {Number(r.Failed)} failed");
        var q = status.Queue;
        Line(text, "Queue", q.Recipients == 0 && q.Messages == 0
            ? "empty"
            : $"{q.Ready} ready, {q.Active} active, {q.Deferred} deferred, {q.Held} held"
              + $" ({Plural(q.Recipients, "recipient")} in {Plural(q.Messages, "message")})");
        if (q.OldestAge is { } oldest) Line(text, "Oldest", Duration(oldest));

        var shape = status.Shape;
        text.Append('\n');
        var shown = shape.Domains.Count < shape.DomainCount ? $"top {shape.Domains.Count} of {Plural(shape.DomainCount, "domain")}" : Plural(shape.DomainCount, "domain");
        text.Append(Invariant, $"Queue shape: recipients by destination domain and message age in minutes ({shown})\n");
        AppendShape(text, shape);
        return text.ToString();
    }

    // qshape's layout: domains right-aligned, then T and one column per bucket headed by its limit, each right-aligned.
    private static void AppendShape(StringBuilder text, QueueShape shape)
    {
        var headers = new List<string> { "T" };
        headers.AddRange(shape.BucketMinutes.Select(m => m.ToString(Invariant)));
        headers.Add(shape.BucketMinutes.Count == 0 ? "+" : shape.BucketMinutes[^1].ToString(Invariant) + "+");
        var rows = new List<QueueShapeRow> { shape.Total };
        rows.AddRange(shape.Domains);
        var cells = rows.Select(row => new[] { row.Total }.Concat(row.Buckets).Select(n => n.ToString(Invariant)).ToArray()).ToList();
        var widths = headers.Select((h, c) => Math.Max(h.Length, cells.Max(cell => c < cell.Length ? cell[c].Length : 0))).ToArray();
        var domainWidth = rows.Max(row => row.Domain.Length);

        void Row(string first, IReadOnlyList<string> columns)
        {
            text.Append(' ', 2).Append(first.PadLeft(domainWidth));
            for (var c = 0; c < widths.Length; c++) text.Append(' ').Append((c < columns.Count ? columns[c] : "").PadLeft(widths[c]));
            text.Append('\n');
        }

        Row("", headers);
        for (var i = 0; i < rows.Count; i++) Row(rows[i].Domain, cells[i]);
    }

    private static void Line(StringBuilder text, string label, string value) =>
        text.Append((label.Length == 0 ? "" : label + ":").PadRight(LabelWidth)).Append(value).Append('\n');

    private static string Number(double value) => value.ToString("0.#", Invariant);

    private static string Plural(long count, string noun) => $"{count.ToString(Invariant)} {noun}{(count == 1 ? "" : "s")}";

    /// <summary>A duration as an operator reads it at a glance: the two largest units (<c>2d 03h</c>, <c>3h 04m</c>,
    /// <c>4m 05s</c>, <c>5s</c>).</summary>
    internal static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero) span = TimeSpan.Zero;
        if (span.TotalDays >= 1) return string.Create(Invariant, $"{(int)span.TotalDays}d {span.Hours:00}h");
        if (span.TotalHours >= 1) return string.Create(Invariant, $"{span.Hours}h {span.Minutes:00}m");
        if (span.TotalMinutes >= 1) return string.Create(Invariant, $"{span.Minutes}m {span.Seconds:00}s");
        return string.Create(Invariant, $"{span.Seconds}s");
    }
}
