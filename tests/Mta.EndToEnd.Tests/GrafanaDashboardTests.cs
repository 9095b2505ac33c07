// docs/grafana/mta-dashboard.json: imports as a Grafana dashboard, asks only for metric names the server exports, and
// every query is PromQL that Prometheus parses.
using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests;

public sealed partial class GrafanaDashboardTests
{
    /// <summary>
    /// The names the Prometheus exporter gives the instruments of MtaTelemetry (the brief's list): dots become
    /// underscores, the unit is appended (s: _seconds; By: _bytes, already in the name), a counter gets _total, a
    /// histogram is read through its _bucket, _sum and _count series, and an annotation unit ({connection}) is dropped.
    /// Kept by hand until the server serves its scrape endpoint; the rule was checked against a scrape of
    /// OpenTelemetry.Exporter.Prometheus.AspNetCore 1.20.1-beta.1 fed instruments of the same names, kinds and units.
    /// </summary>
    private static readonly string[] Exported =
    [
        "mta_smtp_connections_open",
        "mta_smtp_connections_total",
        "mta_smtp_connections_refused_total",
        "mta_smtp_tls_sessions_total",
        "mta_smtp_transactions_total",
        "mta_smtp_received_bytes_total",
        "mta_queue_recipients",
        "mta_queue_oldest_age_seconds",
        "mta_delivery_attempts_total",
        "mta_delivery_duration_seconds",
        "mta_delivery_circuit_state",
        "mta_hooks_duration_seconds",
        "mta_hooks_failures_total",
        "mta_dns_lookup_duration_seconds",
        "mta_auth_failures_total",
    ];

    private static readonly string[] Histograms = ["mta_delivery_duration_seconds", "mta_hooks_duration_seconds", "mta_dns_lookup_duration_seconds"];

    [Fact]
    public void Every_metric_a_query_uses_is_one_the_server_exports()
    {
        var used = Expressions().SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(used);
        foreach (var name in used)
        {
            // A histogram's series: NAME_bucket, NAME_sum, NAME_count.
            var series = Histograms.FirstOrDefault(h => name == h + "_bucket" || name == h + "_sum" || name == h + "_count");
            Assert.True(series is not null || (Exported.Contains(name) && !Histograms.Contains(name)), $"{name} is not a series the server exports");
        }
        // And the panels the issue asks for are there: each exported instrument is drawn somewhere.
        foreach (var name in Exported)
            Assert.True(used.Any(u => u == name || u.StartsWith(name + "_", StringComparison.Ordinal)), $"no panel draws {name}");
    }

    [Fact]
    public void Dashboard_is_importable_with_a_prometheus_data_source_variable()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(DashboardPath()));
        var root = document.RootElement;
        Assert.InRange(root.GetProperty("schemaVersion").GetInt32(), 36, 41);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("uid").GetString()));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("title").GetString()));
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().ToList();
        var source = Assert.Single(variables, v => v.GetProperty("type").GetString() == "datasource");
        Assert.Equal("prometheus", source.GetProperty("query").GetString());
        var name = source.GetProperty("name").GetString();

        var ids = new HashSet<int>();
        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), "panel ids repeat");
            var grid = panel.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            if (panel.GetProperty("type").GetString() == "row") continue;
            // Every panel and query reads the chosen data source, none a uid of the machine it was drawn on.
            Assert.Equal("${" + name + "}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            foreach (var target in targets)
                Assert.Equal("${" + name + "}", target.GetProperty("datasource").GetProperty("uid").GetString());
        }
        Assert.True(ids.Count >= 10, "too few panels");
    }

    [Fact]
    public async Task Every_query_is_PromQL_that_promtool_parses()
    {
        const string promtool = "/usr/bin/promtool";
        if (!File.Exists(promtool)) Assert.Skip("promtool (Debian package prometheus) is not installed");
        var directory = Path.Combine(Path.GetTempPath(), "mta-dash-" + Guid.NewGuid().ToString("n")[..10]);
        Directory.CreateDirectory(directory);
        try
        {
            // Each query as a recording rule, with Grafana's variables filled in as Grafana would.
            var rules = new System.Text.StringBuilder("groups:\n- name: dashboard\n  rules:\n");
            var i = 0;
            foreach (var expression in Expressions())
            {
                var promql = expression.Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$instance", ".*", StringComparison.Ordinal)
                    .Replace("$job", ".*", StringComparison.Ordinal);
                rules.Append("  - record: dashboard:query").Append(i++).Append('\n').Append("    expr: ").Append(JsonSerializer.Serialize(promql)).Append('\n');
            }
            var file = Path.Combine(directory, "dashboard.rules.yml");
            await File.WriteAllTextAsync(file, rules.ToString(), TestContext.Current.CancellationToken);

            using var process = Process.Start(new ProcessStartInfo(promtool, ["check", "rules", file]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, await output + await errors);
            Assert.Contains($"SUCCESS: {i} rules found", await output);
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    private static List<string> Expressions()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(DashboardPath()));
        var list = new List<string>();
        foreach (var panel in document.RootElement.GetProperty("panels").EnumerateArray())
        {
            if (!panel.TryGetProperty("targets", out var targets)) continue;
            foreach (var target in targets.EnumerateArray()) list.Add(target.GetProperty("expr").GetString()!);
        }
        foreach (var variable in document.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("definition", out var definition) && LabelValues().Match(definition.GetString()!) is { Success: true } m)
                list.Add(m.Groups[1].Value);
        }
        return list;
    }

    private static string DashboardPath()
    {
        var repository = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repository, "Mta.sln"))) repository = Path.GetDirectoryName(repository)!;
        return Path.Combine(repository, "docs", "grafana", "mta-dashboard.json");
    }

    // A metric name of Mta: label names and values in the queries never start with "mta_".
    [GeneratedRegex(@"\bmta_[a-z0-9_]+")]
    private static partial Regex MetricName();

    // label_values(METRIC, label): the series a variable reads its values from.
    [GeneratedRegex(@"^label_values\(([^,]+),")]
    private static partial Regex LabelValues();
}
