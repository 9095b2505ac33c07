// `mta run` as shipped, with its config file: the HTTP side it wires (console, probes, Prometheus scrape) answers on the
// configured loopback URL and nowhere else.
using System.Net;
using System.Text.RegularExpressions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests.Web;

public sealed class WebProcessTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-e2e-webproc-" + Guid.NewGuid().ToString("n")[..12]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => MtaTestServer.DeleteQuietly(_root);

    [Fact]
    public async Task Mta_run_serves_the_console_the_probes_and_the_scrape_on_the_configured_url_only()
    {
        var config = MtaProcess.WriteConfig(_root, extra: new Dictionary<string, object?>
        {
            ["Web"] = new { Enabled = true, Urls = new[] { "http://127.0.0.1:0" } },
            ["Telemetry"] = new { Prometheus = new { Enabled = true } },
            ["Logging"] = new
            {
                LogLevel = new Dictionary<string, string>
                {
                    ["Default"] = "Warning",
                    ["Mta.Engine.Receiver.SmtpServer"] = "Information",
                    ["Mta.Web.Hosting.MtaWebServer"] = "Information",
                },
            },
        });
        await using var mta = MtaProcess.Start("run", "--config", config);
        var smtpPort = await mta.WaitForListenerAsync();
        var web = await WaitForWebAsync(mta);
        // One URL configured, one bound: the default (8089) is not bound beside it.
        Assert.Single(web);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = web[0], Timeout = TimeSpan.FromSeconds(20) };

        await using (var c = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpPort)))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: web\r\n\r\nhello\r\n"), 250);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz", Ct)).StatusCode);
        var scrape = await http.GetStringAsync("/metrics", Ct);
        Assert.Matches(new Regex(@"^mta_smtp_transactions_total\{[^}]*result=""accepted""[^}]*\} [1-9]", RegexOptions.Multiline), scrape);
        // The console wants a login: no Web:AnonymousRead.
        var console = await http.GetAsync("/", Ct);
        Assert.Equal(HttpStatusCode.Redirect, console.StatusCode);
        Assert.Contains("/login", console.Headers.Location?.ToString());
    }

    private static async Task<IReadOnlyList<Uri>> WaitForWebAsync(MtaProcess mta)
    {
        var pattern = new Regex(@"\[1720\] Web listening on (.+)$", RegexOptions.Multiline);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (pattern.Match(mta.Output) is { Success: true } match)
                return [.. match.Groups[1].Value.Trim().Split(", ").Select(u => new Uri(u))];
            if (mta.HasExited || DateTime.UtcNow > deadline) Assert.Fail("no web listener line:\n" + mta.Output);
            await Task.Delay(50, Ct);
        }
    }
}
