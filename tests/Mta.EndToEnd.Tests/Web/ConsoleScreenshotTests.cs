// Pictures of each console page for docs/operations.md and the README, made in the real browser with real traffic.
using Microsoft.Playwright;
using Mta.Engine.Control;

namespace Mta.EndToEnd.Tests.Web;

/// <summary>
/// Runs only when <c>MTA_SCREENSHOTS</c> names a folder (e.g. <c>docs/images</c>), so CI never rewrites tracked files.
/// The server gets a few minutes of mixed traffic first (<c>MTA_SCREENSHOTS_MINUTES</c>, default 3): several domains,
/// mail delivered, deferred by a greylisting peer, by a full one and by DNS, and refused for good.
/// </summary>
public sealed class ConsoleScreenshotTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Screenshots_of_each_page()
    {
        var folder = Environment.GetEnvironmentVariable("MTA_SCREENSHOTS");
        if (string.IsNullOrEmpty(folder)) Assert.Skip("set MTA_SCREENSHOTS=DIR to write the console's screenshots");
        Directory.CreateDirectory(folder);
        var minutes = double.TryParse(Environment.GetEnvironmentVariable("MTA_SCREENSHOTS_MINUTES"), System.Globalization.CultureInfo.InvariantCulture, out var m) ? m : 3;

        await using var site = await ConsoleSite.StartAsync();
        string? sample = null;
        var senders = new[] { "alice@example.test", "billing@example.test", "news@example.test", "carol@example.test" };
        var deferredTo = new[] { "bob@greylist.test", "ops@busy.test", "team@corp-mail.test", "info@shop.test", "jim@greylist.test" };
        var deliveredTo = new[] { "sales@partner.test", "dan@partner.test", "erin@example.test", "frank@example.test", "eve@partner.test" };
        var subjects = new[] { "Invoice 2026-1187", "Weekly status", "Re: contract draft", "Your order has shipped", "Meeting notes", "Password reset" };
        var random = new Random(15);
        var deadline = DateTime.UtcNow.AddMinutes(minutes);
        var round = 0;
        while (DateTime.UtcNow < deadline)
        {
            // A daily rhythm in small: the batch grows and shrinks over the run.
            var wave = 1 + (int)(4 * (1 + Math.Sin(round / 4.0)));
            for (var i = 0; i < wave; i++)
            {
                var from = senders[random.Next(senders.Length)];
                var subject = subjects[random.Next(subjects.Length)];
                await site.SendAsync(from, [deliveredTo[random.Next(deliveredTo.Length)]], subject);
                if (random.Next(3) == 0)
                {
                    var id = await site.SendAsync(from, [deferredTo[random.Next(deferredTo.Length)], deliveredTo[random.Next(deliveredTo.Length)]], subject);
                    if (sample is null && from == "alice@example.test") sample = id;
                }
                if (random.Next(8) == 0) await site.SendAsync(from, ["nosuchuser@partner.test"], subject);
            }
            round++;
            await Task.Delay(TimeSpan.FromSeconds(5), Ct);
        }
        sample ??= await site.SendAsync("alice@example.test", ["bob@greylist.test", "dan@partner.test"], "Invoice 2026-1187");
        await site.WaitForDeferredAsync(sample);

        var (playwright, browser) = await ConsoleBrowserTests.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var console = site.Address.GetLeftPart(UriPartial.Authority);
        var options = new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 860 } };

        var anonymous = await (await browser.NewContextAsync(options)).NewPageAsync();
        await anonymous.GotoAsync(console + "/login");
        await anonymous.FillAsync("#user", "admin");
        await anonymous.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-login.png") });

        var page = await (await browser.NewContextAsync(options)).NewPageAsync();
        await page.GotoAsync(console + "/login");
        await page.FillAsync("#user", "admin");
        await page.FillAsync("#password", ConsoleSite.AdminPassword);
        await page.ClickAsync("form.login button[type=submit]");
        await page.WaitForURLAsync(console + "/");
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-overview.png"), FullPage = true });
        await page.GotoAsync(console + "/queue");
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-queue.png") });
        await page.GotoAsync(console + "/queue/" + sample);
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-message.png"), FullPage = true });
        await page.GotoAsync(console + "/destinations");
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-destinations.png"), FullPage = true });
        await page.GotoAsync(console + "/deliveries");
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-deliveries.png") });
        Assert.NotEmpty(site.Queue.List().Where(e => e.Recipients.Any(r => r.State == QueueRecipientState.Deferred)));
    }
}
