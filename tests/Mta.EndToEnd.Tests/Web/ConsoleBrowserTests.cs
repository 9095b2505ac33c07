// The web console in a real headless browser (Debian's chromium, driven by Playwright): pages load, the queue browser
// finds a deferred message, an admin's flush makes it try again, an anonymous flush and a cross-site POST are refused.
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Mta.Engine.Control;

namespace Mta.EndToEnd.Tests.Web;

public sealed class ConsoleBrowserTests
{
    internal const string Chromium = "/usr/bin/chromium";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Debian's chromium, headless, with nothing that reaches the network by itself. Playwright's own browser
    /// builds are never downloaded: its bundled driver (node) only drives the executable named here.</summary>
    internal static async Task<(IPlaywright, IBrowser)> LaunchAsync()
    {
        if (!File.Exists(Chromium)) Assert.Skip($"{Chromium} is not installed (apt-get install chromium)");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync"],
                Timeout = 60_000,
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    [Fact]
    public async Task Pages_load_the_queue_browser_finds_a_deferred_message_an_admin_flushes_it_and_forged_posts_are_refused()
    {
        await using var site = await ConsoleSite.StartAsync();
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "Quarterly report");
        var before = (await site.WaitForDeferredAsync(id)).Recipients[0].Attempts;
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var console = site.Address.GetLeftPart(UriPartial.Authority);

        // Anonymous: reading sends the browser to the login form.
        var anonymous = await (await browser.NewContextAsync()).NewPageAsync();
        await anonymous.GotoAsync(console + "/queue");
        Assert.StartsWith(console + "/login", anonymous.Url);
        await Assertions.Expect(anonymous.Locator("form.login")).ToBeVisibleAsync();

        // Anonymous flush: a form posted from the console's own login page, with that page's token, is still refused.
        await SubmitFormAsync(anonymous, $"/queue/{id}/flush", await anonymous.Locator("input[name=__csrf]").GetAttributeAsync("value"));
        Assert.StartsWith(console + "/login", anonymous.Url);
        Assert.Equal(before, site.Queue.Find(id)!.Recipients[0].Attempts);

        // The admin logs in through the form and sees every page.
        var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(console + "/");
        await page.FillAsync("#user", "admin");
        await page.FillAsync("#password", ConsoleSite.AdminPassword);
        await page.ClickAsync("form.login button[type=submit]");
        await page.WaitForURLAsync(console + "/");
        foreach (var (path, title) in new[] { ("/", "Overview"), ("/queue", "Queue"), ("/destinations", "Destinations"), ("/deliveries", "Recent deliveries") })
        {
            var response = await page.GotoAsync(console + path);
            Assert.Equal(200, response!.Status);
            await Assertions.Expect(page.Locator("main h1")).ToHaveTextAsync(title);
        }

        // The queue browser finds the deferred message by its domain and state.
        await page.GotoAsync(console + "/queue");
        await page.FillAsync("input[name=q]", "greylist.test");
        await page.SelectOptionAsync("select[name=state]", "deferred");
        await page.ClickAsync("form.search button[type=submit]");
        var row = page.Locator("table.queue tbody tr", new() { HasText = id });
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.Locator(".badge")).ToHaveTextAsync("deferred");
        await Assertions.Expect(row).ToContainTextAsync("451 4.7.1 Greylisted");

        // Its page shows the envelope and headers; the admin flushes it, and it is attempted again.
        await row.Locator("a").First.ClickAsync();
        await page.WaitForURLAsync($"{console}/queue/{id}");
        await Assertions.Expect(page.Locator("table.headers")).ToContainTextAsync("Quarterly report");
        await page.ClickAsync("form[action$='/flush'] button");
        await Assertions.Expect(page.Locator(".notice")).ToContainTextAsync("Flushed: 1 recipient(s)");
        await site.WaitForDeferredAsync(id, attempts: before + 1);
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("table.recipients tbody tr td.num")).ToHaveTextAsync((before + 1).ToString());
        // Recent deliveries lists both attempts.
        await page.GotoAsync(console + "/deliveries");
        await Assertions.Expect(page.Locator("table.deliveries tbody tr", new() { HasText = id })).ToHaveCountAsync(before + 1);

        // A page of another origin auto-submits a form to the console in the admin's browser: refused, queue unchanged.
        var attempts = site.Queue.Find(id)!.Recipients[0].Attempts;
        await using var evil = await EvilSiteAsync($"{console}/queue/{id}/delete");
        var refused = await page.RunAndWaitForResponseAsync(() => page.GotoAsync(evil.Url),
            r => r.Url.StartsWith(console, StringComparison.Ordinal) && r.Request.Method == "POST");
        Assert.Equal(403, refused.Status);
        var still = site.Queue.Find(id);
        Assert.NotNull(still);
        Assert.Equal(QueueRecipientState.Deferred, still.Recipients[0].State);
        Assert.Equal(attempts, still.Recipients[0].Attempts);
    }

    // Builds and submits a form in the page, as a user's click on it would.
    private static Task SubmitFormAsync(IPage page, string action, string? token) =>
        page.RunAndWaitForNavigationAsync(() => page.EvaluateAsync(
            """
            ([action, token]) => {
              const form = document.createElement('form');
              form.method = 'post';
              form.action = action;
              const field = document.createElement('input');
              field.type = 'hidden'; field.name = '__csrf'; field.value = token ?? '';
              form.appendChild(field);
              document.body.appendChild(form);
              form.submit();
            }
            """, new[] { action, token }));

    /// <summary>A second local site, on another port, whose page posts a form to <paramref name="target"/> as soon as it
    /// loads: the shape of a cross-site request forgery.</summary>
    private static async Task<EvilSite> EvilSiteAsync(string target)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var html = $"""
            <!doctype html><html><body>
            <form method="post" action="{System.Net.WebUtility.HtmlEncode(target)}"><input type="hidden" name="__csrf" value="guessed"></form>
            <script>document.forms[0].submit();</script>
            </body></html>
            """;
        app.MapGet("/", () => Results.Content(html, "text/html"));
        await app.StartAsync(Ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new EvilSite(app, address.TrimEnd('/') + "/");
    }

    private sealed record EvilSite(WebApplication App, string Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
