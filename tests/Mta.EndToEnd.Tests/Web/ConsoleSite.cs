// A running server with the web console on, two console users, and a peer that defers mail for some domains.
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;
using Mta.Web;
using Mta.Web.Hosting;

namespace Mta.EndToEnd.Tests.Web;

/// <summary>
/// The engine with <c>Web:Enabled</c> on 127.0.0.1 port 0. Users: <c>admin</c> (in <c>Web:Admins</c>) and
/// <c>viewer</c>. Mail to <c>greylist.test</c> and <c>busy.test</c> is deferred by the peer (451), mail to
/// <c>partner.test</c> is delivered to it (but <c>nosuch...@</c> is refused with 550), and any other remote domain gets
/// SERVFAIL from the stub DNS (deferred too).
/// </summary>
public sealed partial class ConsoleSite : IAsyncDisposable
{
    public const string AdminPassword = "admin-secret-1";
    public const string ViewerPassword = "viewer-secret-1";

    private ConsoleSite(MtaTestServer server, TestSmtpServer peer)
    {
        Server = server;
        Peer = peer;
        Address = server.Services.GetRequiredService<MtaWebServer>().Addresses[0];
    }

    public MtaTestServer Server { get; }
    public TestSmtpServer Peer { get; }
    public Uri Address { get; }
    public IQueueAdministration Queue => Server.Services.GetRequiredService<IQueueAdministration>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<ConsoleSite> StartAsync(bool anonymousRead = false, Action<MtaOptions>? configure = null)
    {
        var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            HostName = "mx.peer.test",
            RcptReply = address =>
                address.EndsWith("@greylist.test", StringComparison.OrdinalIgnoreCase) ? "451 4.7.1 Greylisted, please try again later"
                : address.EndsWith("@busy.test", StringComparison.OrdinalIgnoreCase) ? "452 4.3.1 Insufficient system storage"
                : address.StartsWith("nosuch", StringComparison.OrdinalIgnoreCase) ? "550 5.1.1 No such user here"
                : null,
        });
        try
        {
            var route = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            var server = await MtaTestServer.StartAsync(o =>
            {
                o.Web.Enabled = true;
                o.Web.Urls = ["http://127.0.0.1:0"];
                o.Web.AnonymousRead = anonymousRead;
                o.Web.Admins = ["admin"];
                o.Auth.HashIterations = 100_000;
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                foreach (var domain in new[] { "greylist.test", "busy.test", "partner.test" }) o.Relay.Routes[domain] = route;
                configure?.Invoke(o);
            }, services: s => s.AddMtaWeb());
            var users = server.Services.GetRequiredService<UserStore>();
            users.Add("admin", AdminPassword, []);
            users.Add("viewer", ViewerPassword, []);
            return new ConsoleSite(server, peer);
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client that keeps cookies and does not follow redirects, so a test sees each 302.</summary>
    public HttpClient NewClient() =>
        new(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false, UseCookies = true }) { BaseAddress = Address };

    /// <summary>The antiforgery token of the first form on <paramref name="path"/>.</summary>
    public static async Task<string> TokenAsync(HttpClient client, string path)
    {
        var html = await client.GetStringAsync(path, Ct);
        var match = TokenField().Match(html);
        Assert.True(match.Success, "no antiforgery field on " + path);
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    public static async Task LoginAsync(HttpClient client, string user, string password)
    {
        var token = await TokenAsync(client, "/login");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__csrf"] = token,
            ["user"] = user,
            ["password"] = password,
            ["returnUrl"] = "/",
        }), Ct);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location?.OriginalString);
    }

    /// <summary>Sends one message over SMTP and returns its queue id.</summary>
    public async Task<string> SendAsync(string from, string[] to, string subject, string body = "Hello.\r\n")
    {
        await using var c = await SmtpAssert.ConnectAsync(Server);
        await SmtpAssert.EhloAsync(c);
        var message = $"From: <{from}>\r\nTo: {string.Join(", ", to.Select(t => "<" + t + ">"))}\r\nSubject: {subject}\r\n" +
                      $"Message-ID: <{Guid.NewGuid():n}@client.test>\r\nDate: {DateTimeOffset.UtcNow:R}\r\nMIME-Version: 1.0\r\n" +
                      $"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}";
        var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, to, message), 250);
        return SmtpAssert.QueueIdOf(reply.Lines[^1]);
    }

    /// <summary>Waits (bounded) until every recipient of <paramref name="queueId"/> not yet final is deferred with at
    /// least <paramref name="attempts"/> attempts; returns the message.</summary>
    public async Task<QueueEntrySnapshot> WaitForDeferredAsync(string queueId, int attempts = 1)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var message = Queue.Find(queueId);
            if (message is not null && message.Recipients.Where(r => r.State.IsPending())
                    .All(r => r.State == QueueRecipientState.Deferred && r.Attempts >= attempts)
                && message.Recipients.Any(r => r.State == QueueRecipientState.Deferred))
                return message;
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                Assert.Fail($"{queueId} not deferred after {attempts} attempt(s): {(message is null ? "gone" : string.Join(", ", message.Recipients))}");
            await Task.Delay(50, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Peer.DisposeAsync();
    }

    [GeneratedRegex("name=\"__csrf\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}
