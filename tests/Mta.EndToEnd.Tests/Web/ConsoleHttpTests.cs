// The web console over real HTTP: pages after login, who may read, who may act, and the CSRF checks on every action.
using System.Net;
using Mta.Engine.Control;

namespace Mta.EndToEnd.Tests.Web;

public sealed class ConsoleHttpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FormUrlEncodedContent Form(string? token) =>
        new(token is null ? [] : new Dictionary<string, string> { ["__csrf"] = token });

    [Fact]
    public async Task Every_page_answers_200_after_login_and_hostile_headers_are_shown_escaped()
    {
        await using var site = await ConsoleSite.StartAsync();
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "<script>alert('x')</script> & \"more\"");
        await site.WaitForDeferredAsync(id);
        using var client = site.NewClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/login", Ct)).StatusCode);
        await ConsoleSite.LoginAsync(client, "viewer", ConsoleSite.ViewerPassword);

        foreach (var path in new[] { "/", "/queue", "/queue?q=greylist&state=deferred", "/queue/" + id, "/destinations", "/deliveries" })
        {
            using var response = await client.GetAsync(path, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
        }
        var overview = await client.GetStringAsync("/", Ct);
        Assert.Contains("<svg viewBox=", overview);
        Assert.Contains("Delivery attempts, per minute", overview);
        Assert.Contains("greylist.test", overview);
        var page = await client.GetStringAsync("/queue/" + id, Ct);
        Assert.Contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;more&quot;", page);
        Assert.DoesNotContain("<script", page);
        Assert.Contains("bob@greylist.test", page);
        Assert.Contains("451 4.7.1 Greylisted", page);
        // A viewer sees no action buttons.
        Assert.DoesNotContain("/flush\"", page);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/queue/NOSUCHID", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/console.css", Ct)).StatusCode);
    }

    [Fact]
    public async Task Anonymous_read_is_redirected_to_login_and_a_wrong_password_gets_no_cookie()
    {
        await using var site = await ConsoleSite.StartAsync();
        using var client = site.NewClient();
        foreach (var path in new[] { "/", "/queue", "/destinations", "/deliveries" })
        {
            using var response = await client.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.StartsWith("/login?ReturnUrl=", response.Headers.Location!.PathAndQuery);
        }
        // Health probes stay open.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz", Ct)).StatusCode);

        var token = await ConsoleSite.TokenAsync(client, "/login");
        using var wrong = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__csrf"] = token, ["user"] = "viewer", ["password"] = "not-it", ["returnUrl"] = "/",
        }), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("Wrong user name or password", await wrong.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/queue", Ct)).StatusCode);
    }

    [Fact]
    public async Task Login_cookie_is_httponly_and_samesite_strict_and_return_url_stays_on_the_site()
    {
        await using var site = await ConsoleSite.StartAsync();
        using var client = site.NewClient();
        var token = await ConsoleSite.TokenAsync(client, "/login");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__csrf"] = token, ["user"] = "viewer", ["password"] = ConsoleSite.ViewerPassword, ["returnUrl"] = "//evil.test/x",
        }), Ct);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location?.OriginalString);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("mta-console=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Anonymous_read_is_allowed_when_configured_but_an_anonymous_action_is_not()
    {
        await using var site = await ConsoleSite.StartAsync(anonymousRead: true);
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "anonymous");
        var before = (await site.WaitForDeferredAsync(id)).Recipients[0].Attempts;
        using var client = site.NewClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/queue", Ct)).StatusCode);
        var page = await client.GetStringAsync("/queue/" + id, Ct);
        Assert.DoesNotContain("/flush\"", page);

        var token = await ConsoleSite.TokenAsync(client, "/login");
        using var flush = await client.PostAsync($"/queue/{id}/flush", Form(token), Ct);
        Assert.Equal(HttpStatusCode.Redirect, flush.StatusCode);
        Assert.StartsWith("/login?ReturnUrl=", flush.Headers.Location!.PathAndQuery);
        Assert.Equal(before, site.Queue.Find(id)!.Recipients[0].Attempts);
        Assert.NotNull(site.Queue.Find(id)!.Recipients[0].NextAttempt);
    }

    [Fact]
    public async Task A_post_without_the_antiforgery_token_is_refused_with_400()
    {
        await using var site = await ConsoleSite.StartAsync();
        using var client = site.NewClient();
        await ConsoleSite.LoginAsync(client, "admin", ConsoleSite.AdminPassword);
        using var response = await client.PostAsync("/queue/flush", Form(null), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var forged = await client.PostAsync("/queue/flush", Form("forged-token"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
    }

    [Fact]
    public async Task A_post_with_a_foreign_origin_is_refused_even_with_a_valid_token_and_the_queue_is_unchanged()
    {
        await using var site = await ConsoleSite.StartAsync();
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "cross-site");
        var before = await site.WaitForDeferredAsync(id);
        using var client = site.NewClient();
        await ConsoleSite.LoginAsync(client, "admin", ConsoleSite.AdminPassword);
        var token = await ConsoleSite.TokenAsync(client, "/queue/" + id);

        foreach (var origin in new[] { "http://127.0.0.1:1", "http://evil.test", "null" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/queue/{id}/delete") { Content = Form(token) };
            request.Headers.Add("Origin", origin);
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"/queue/{id}/flush") { Content = Form(token) })
        {
            request.Headers.Add("Sec-Fetch-Site", "cross-site");
            Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(request, Ct)).StatusCode);
        }
        var after = site.Queue.Find(id);
        Assert.NotNull(after);
        Assert.Equal(before.Recipients[0].Attempts, after.Recipients[0].Attempts);
        Assert.Equal(QueueRecipientState.Deferred, after.Recipients[0].State);

        // The same token from the console's own origin goes through.
        using var own = new HttpRequestMessage(HttpMethod.Post, $"/queue/{id}/delete") { Content = Form(token) };
        own.Headers.Add("Origin", site.Address.GetLeftPart(UriPartial.Authority));
        using var deleted = await client.SendAsync(own, Ct);
        Assert.Equal(HttpStatusCode.Redirect, deleted.StatusCode);
        Assert.Null(site.Queue.Find(id));
    }

    [Fact]
    public async Task A_non_admin_flush_is_refused_with_403_and_an_admin_flush_makes_the_message_try_again()
    {
        await using var site = await ConsoleSite.StartAsync();
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "flush me");
        var before = (await site.WaitForDeferredAsync(id)).Recipients[0].Attempts;

        using var viewer = site.NewClient();
        await ConsoleSite.LoginAsync(viewer, "viewer", ConsoleSite.ViewerPassword);
        var token = await ConsoleSite.TokenAsync(viewer, "/queue");
        foreach (var path in new[] { "/queue/flush", $"/queue/{id}/flush", $"/queue/{id}/delete", $"/queue/{id}/hold" })
            Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsync(path, Form(token), Ct)).StatusCode);
        Assert.Equal(before, site.Queue.Find(id)!.Recipients[0].Attempts);

        using var admin = site.NewClient();
        await ConsoleSite.LoginAsync(admin, "admin", ConsoleSite.AdminPassword);
        var adminToken = await ConsoleSite.TokenAsync(admin, "/queue/" + id);
        using var flushed = await admin.PostAsync($"/queue/{id}/flush", Form(adminToken), Ct);
        Assert.Equal(HttpStatusCode.Redirect, flushed.StatusCode);
        Assert.Equal($"/queue/{id}?done=flushed&n=1", flushed.Headers.Location?.OriginalString);
        await site.WaitForDeferredAsync(id, attempts: before + 1);
    }

    [Fact]
    public async Task The_queue_browser_searches_by_domain_sender_and_id_and_filters_by_state()
    {
        await using var site = await ConsoleSite.StartAsync(anonymousRead: true);
        var grey = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "one");
        var busy = await site.SendAsync("carol@example.test", ["dave@busy.test"], "two");
        await site.WaitForDeferredAsync(grey);
        await site.WaitForDeferredAsync(busy);
        using var client = site.NewClient();

        var byDomain = await client.GetStringAsync("/queue?q=GREYLIST.test", Ct);
        Assert.Contains(grey, byDomain);
        Assert.DoesNotContain(busy, byDomain);
        var bySender = await client.GetStringAsync("/queue?q=carol", Ct);
        Assert.Contains(busy, bySender);
        Assert.DoesNotContain(grey, bySender);
        var byId = await client.GetStringAsync("/queue?q=" + busy[..8], Ct);
        Assert.Contains(busy, byId);
        var deferred = await client.GetStringAsync("/queue?state=deferred", Ct);
        Assert.Contains(grey, deferred);
        Assert.Contains(busy, deferred);
        var ready = await client.GetStringAsync("/queue?state=ready", Ct);
        Assert.DoesNotContain(grey, ready);
        Assert.Contains("No message matches", ready);
    }

    [Fact]
    public async Task An_admin_holds_and_releases_a_message_and_the_queue_browser_filters_held_ones()
    {
        await using var site = await ConsoleSite.StartAsync();
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test"], "hold me");
        await site.WaitForDeferredAsync(id);
        using var admin = site.NewClient();
        await ConsoleSite.LoginAsync(admin, "admin", ConsoleSite.AdminPassword);
        var token = await ConsoleSite.TokenAsync(admin, "/queue/" + id);

        using (var held = await admin.PostAsync($"/queue/{id}/hold", Form(token), Ct))
        {
            Assert.Equal(HttpStatusCode.Redirect, held.StatusCode);
            Assert.Equal($"/queue/{id}?done=held&n=1", held.Headers.Location?.OriginalString);
        }
        Assert.Equal(QueueRecipientState.Held, site.Queue.Find(id)!.Recipients[0].State);
        Assert.Contains(id, await admin.GetStringAsync("/queue?state=held", Ct));
        Assert.DoesNotContain(id, await admin.GetStringAsync("/queue?state=deferred", Ct));
        var page = await admin.GetStringAsync($"/queue/{id}?done=held&n=1", Ct);
        Assert.Contains("Held: 1 recipient(s)", page);
        Assert.Contains($"/queue/{id}/release", page);

        using (var released = await admin.PostAsync($"/queue/{id}/release", Form(token), Ct))
            Assert.Equal($"/queue/{id}?done=released&n=1", released.Headers.Location?.OriginalString);
        // Released means due now: the peer defers it once more.
        await site.WaitForDeferredAsync(id, attempts: 2);
    }

    [Fact]
    public async Task Destinations_and_recent_deliveries_show_the_peer_that_deferred_and_the_one_that_took_the_mail()
    {
        await using var site = await ConsoleSite.StartAsync(anonymousRead: true);
        var id = await site.SendAsync("alice@example.test", ["bob@greylist.test", "dan@partner.test"], "two ways");
        await site.WaitForDeferredAsync(id);
        using var client = site.NewClient();

        var destinations = await client.GetStringAsync("/destinations", Ct);
        Assert.Contains("451 4.7.1 Greylisted", destinations);
        Assert.Contains("b-closed", destinations);
        var deliveries = await client.GetStringAsync("/deliveries", Ct);
        Assert.Contains(id, deliveries);
        Assert.Contains("bob@greylist.test", deliveries);
        Assert.Contains("dan@partner.test", deliveries);
        Assert.Contains("b-deferred", deliveries);
        Assert.Contains("b-delivered", deliveries);
    }

    [Fact]
    public async Task Failed_logins_count_in_the_engine_limiter_and_a_blocked_address_gets_429_even_with_the_right_password()
    {
        await using var site = await ConsoleSite.StartAsync(configure: o =>
        {
            o.Auth.MaxFailuresPerIp = 2;
            o.Auth.MaxDelay = TimeSpan.FromSeconds(1);
        });
        using var client = site.NewClient();
        async Task<HttpStatusCode> LoginAsync(string password)
        {
            var token = await ConsoleSite.TokenAsync(client, "/login");
            using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["__csrf"] = token, ["user"] = "admin", ["password"] = password, ["returnUrl"] = "/",
            }), Ct);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.Unauthorized, await LoginAsync("guess-1"));
        Assert.Equal(HttpStatusCode.Unauthorized, await LoginAsync("guess-2"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await LoginAsync(ConsoleSite.AdminPassword));
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/queue", Ct)).StatusCode);
    }
}
