// The Prometheus scrape over real HTTP from a running server after SMTP traffic, checked by promtool.
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Web;
using Mta.Web.Hosting;
using Mta.Web.Metrics;

namespace Mta.EndToEnd.Tests;

public sealed class PrometheusTests
{
    private const string Promtool = "/usr/bin/promtool";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A server with the SDK and the scrape endpoint on, the console off, its listener on a free loopback port.</summary>
    internal static async Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null)
    {
        MtaOptions? options = null;
        return await MtaTestServer.StartAsync(o =>
        {
            o.Telemetry.Prometheus.Enabled = true;
            o.Web.Urls = ["http://127.0.0.1:0"];
            configure?.Invoke(o);
            options = o;
        }, services: s =>
        {
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });
    }

    private static async Task<string> ScrapeAsync(MtaTestServer server, string path = "/metrics")
    {
        var web = server.Services.GetRequiredService<MtaWebServer>();
        using var http = new HttpClient { BaseAddress = Assert.Single(web.Addresses), Timeout = TimeSpan.FromSeconds(20) };
        var response = await http.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private static async Task SendAsync(MtaTestServer server)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: scrape\r\n\r\nhello\r\n"), 250);
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
    }

    [Fact]
    public async Task The_scrape_endpoint_serves_the_instruments_after_traffic_with_the_console_off_on_loopback()
    {
        await using var server = await StartAsync();
        Assert.False(server.Options.Web.Enabled);
        var web = server.Services.GetRequiredService<MtaWebServer>();
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(Assert.Single(web.Addresses).Host)));
        await SendAsync(server);
        await server.WaitForMailAsync("bob");

        // The delivery is counted just after the mail lands: scrape until it shows (bounded).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var text = await ScrapeAsync(server);
        while (!text.Contains("mta_delivery_attempts_total{", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("no delivery in the scrape:\n" + text);
            await Task.Delay(100, Ct);
            text = await ScrapeAsync(server);
        }
        Assert.Contains("# TYPE mta_smtp_connections_total counter", text);
        Assert.Contains("# TYPE mta_smtp_connections_open gauge", text);
        Assert.Contains("mta_smtp_transactions_total{", text);
        Assert.Contains("result=\"accepted\"", text);
        Assert.Contains("# TYPE mta_smtp_received_bytes_total counter", text);
        Assert.Contains("# TYPE mta_delivery_duration_seconds histogram", text);
        Assert.Contains("mta_delivery_duration_seconds_bucket{", text);
        Assert.Contains("mta_queue_recipients{", text);
        Assert.Contains("# TYPE mta_queue_oldest_age_seconds gauge", text);
    }

    [Fact]
    public async Task Promtool_accepts_the_scrape_without_errors_or_lint_problems()
    {
        if (!File.Exists(Promtool)) Assert.Skip("promtool is not installed (Debian's prometheus package)");
        await using var server = await StartAsync(o => o.Telemetry.Prometheus.Path = "/prom/metrics");
        await SendAsync(server);
        await server.WaitForMailAsync("bob");
        var text = await ScrapeAsync(server, "/prom/metrics");
        Assert.Contains("mta_smtp_transactions_total", text);

        var (exit, output) = await RunAsync(Promtool, ["check", "metrics"], text);
        Assert.True(exit == 0, $"promtool check metrics exited {exit}:\n{output}\n--- scrape ---\n{text}");
        Assert.True(output.Trim().Length == 0, "promtool lint:\n" + output);
    }

    [Fact]
    public async Task Without_the_endpoint_no_listener_starts()
    {
        MtaOptions? options = null;
        await using var server = await MtaTestServer.StartAsync(o => options = o, services: s =>
        {
            s.AddMtaWeb();
            s.AddMtaTelemetry(options!);
        });
        Assert.False(server.Services.GetRequiredService<MtaWebServer>().IsListening);
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, string[] args, string input)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        await process.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        return (process.ExitCode, await stdout + await stderr);
    }
}
