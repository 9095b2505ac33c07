// docs/grafana/mta-dashboard.json: imports as a Grafana dashboard, asks only for series a real scrape of the server
// shows, draws every instrument, and every query is PromQL that Prometheus parses.
using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Testing;
using Mta.Web;
using Mta.Web.Hosting;
using Mta.Web.Metrics;

namespace Mta.EndToEnd.Tests;

public sealed partial class GrafanaDashboardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_series_a_query_reads_is_in_a_real_scrape_and_every_instrument_is_drawn()
    {
        var exported = await ScrapeExportedSeriesAsync();
        var used = Expressions().SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(used);
        // A handler taken out of service is a series only once one has been: the traffic cannot make one without three
        // runaway calls, and the panel that draws it draws the abandoned calls beside it.
        var missing = used.Where(name => !exported.ContainsKey(name) && !OnlyOnceItHappens.Contains(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"not in the scrape: {string.Join(", ", missing)}\nscraped: {string.Join(", ", exported.Keys.Order(StringComparer.Ordinal))}");

        // Every label a query groups by or matches on is one its series carry (job and instance are Prometheus's, le
        // the histogram's, reply_class made in the query by label_replace).
        foreach (var expression in Expressions())
        {
            var carried = MetricName().Matches(expression).SelectMany(m => exported.GetValueOrDefault(m.Value) ?? []).ToHashSet(StringComparer.Ordinal);
            if (carried.Count == 0) continue;
            var asked = GroupedBy().Matches(expression).SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries))
                .Concat(Matcher().Matches(expression).Select(m => m.Groups[1].Value))
                .Except(["job", "instance", "le", "reply_class"]);
            foreach (var label in asked) Assert.True(carried.Contains(label), $"no series of '{expression}' carries the label {label}");
        }

        // And each instrument the server exports is drawn somewhere (a histogram through one of its series).
        var instruments = exported.Keys.Where(n => n.StartsWith("mta_", StringComparison.Ordinal))
            .Select(n => Histogram().Replace(n, "")).ToHashSet(StringComparer.Ordinal);
        Assert.True(instruments.Count >= 15, "the traffic moved too few instruments: " + string.Join(", ", instruments));
        foreach (var name in instruments)
            Assert.True(used.Any(u => u == name || Histogram().Replace(u, "") == name), $"no panel draws {name}");
    }

    private static readonly HashSet<string> OnlyOnceItHappens = new(StringComparer.Ordinal) { "mta_hooks_out_of_service_total" };

    /// <summary>
    /// The series a running server exports, from a real scrape of its Prometheus endpoint after traffic that moves every
    /// instrument: a session over STARTTLS with a failed AUTH, a connection refused by the connection limit, a hook and
    /// a hook that throws, a local delivery, a remote delivery (a destination, so a circuit), and a message for a domain the stub DNS does
    /// not know (an MX lookup).
    /// </summary>
    /// <returns>Each series name with the label names its samples carry.</returns>
    private static async Task<Dictionary<string, HashSet<string>>> ScrapeExportedSeriesAsync()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        MtaOptions? options = null;
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Telemetry.Prometheus.Enabled = true;
            o.Web.Urls = ["http://127.0.0.1:0"];
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            o.Auth.HashIterations = 100_000;
            o.Limits.MaxConnections = 1;
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            // Short, so the HELP hook below overruns it and is abandoned while the test goes on.
            o.Hooks.Timeout = TimeSpan.FromMilliseconds(300);
            o.Relay.Routes["remote.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            options = o;
        }, hooks: r =>
        {
            r.Register<DataPostContext>("dashboard-test", (_, _) => ValueTask.FromResult(HookResult.Continue));
            r.Register<NoopContext>("dashboard-failing", (_, _) => throw new InvalidOperationException("a hook failure for the dashboard"));
            // Ignores its token: abandoned after the budget and its grace, it ends a little later by itself.
            r.Register<HelpContext>("dashboard-runaway", async (_, _) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                return HookResult.Continue;
            });
        },
        services: s =>
        {
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });
        server.Services.GetRequiredService<UserStore>().Add("alice", "correct horse", []);

        using (var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.StartTls, Ct);
            await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => client.AuthenticateAsync("alice", "wrong", Ct));
            // The one slot is taken: this connection is refused before its session.
            await using (var extra = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
                Assert.Equal(421, (await extra.ReadReplyAsync()).Code);
            // A hook that throws: 451 4.3.0 to the client, a failure counted.
            Assert.Equal(451, (int)(await Assert.ThrowsAsync<MailKit.Net.Smtp.SmtpCommandException>(() => client.NoOpAsync(Ct))).StatusCode);
            var message = new MimeKit.MimeMessage();
            message.From.Add(MimeKit.MailboxAddress.Parse("alice@example.test"));
            message.To.Add(MimeKit.MailboxAddress.Parse("bob@example.test"));
            message.To.Add(MimeKit.MailboxAddress.Parse("carol@remote.test"));
            message.To.Add(MimeKit.MailboxAddress.Parse("dave@nowhere.test"));
            message.Subject = "dashboard";
            message.Body = new MimeKit.TextPart("plain") { Text = "hello" };
            await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
        }
        // A runaway hook, once the one connection slot is free again: 451 4.3.0 when the budget is spent, and the call is
        // counted as abandoned.
        await using (var raw = await ConnectWhenTheSlotIsFreeAsync(server))
        {
            await SmtpAssert.EhloAsync(raw);
            Assert.Equal(451, (await raw.CommandAsync("HELP")).Code);
            await raw.CommandAsync("QUIT");
        }
        await server.WaitForMailAsync("bob");
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(30), Ct);

        using var http = new HttpClient { BaseAddress = Assert.Single(server.Services.GetRequiredService<MtaWebServer>().Addresses), Timeout = TimeSpan.FromSeconds(20) };
        var series = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var line in (await http.GetStringAsync(server.Options.Telemetry.Prometheus.Path, Ct)).Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var end = line.IndexOfAny(['{', ' ']);
            var name = end < 0 ? line : line[..end];
            if (!series.TryGetValue(name, out var labels)) series[name] = labels = new HashSet<string>(StringComparer.Ordinal);
            foreach (Match label in LabelName().Matches(end >= 0 && line[end] == '{' ? line[end..line.IndexOf('}', end)] : "")) labels.Add(label.Groups[1].Value);
        }
        return series;
    }

    // The server counts a session until it has closed its side; a client that just quit may still hold the one slot.
    private static async Task<RawSmtpClient> ConnectWhenTheSlotIsFreeAsync(MtaTestServer server)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var client = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
            var greeting = await client.ReadReplyAsync();
            if (greeting.Code == 220) return client;
            await client.DisposeAsync();
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the connection slot stayed taken: " + greeting);
            await Task.Delay(50, Ct);
        }
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

    // A series name, which every query here follows with its selector; a label such as mta_hook_handler is not one.
    [GeneratedRegex(@"\bmta_[a-z0-9_]+(?=\{)")]
    private static partial Regex MetricName();

    // A label of a scraped sample: name="value".
    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelName();

    // "by (a, b)": the labels a query groups by.
    [GeneratedRegex(@"\bby \(([^)]*)\)")]
    private static partial Regex GroupedBy();

    // A label matcher inside a selector: {name="v"}, {name=~"v"}.
    [GeneratedRegex(@"[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")]
    private static partial Regex Matcher();

    // A histogram's series: NAME_bucket, NAME_sum, NAME_count.
    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex Histogram();

    // label_values(METRIC, label): the series a variable reads its values from.
    [GeneratedRegex(@"^label_values\(([^,]+),")]
    private static partial Regex LabelValues();
}
