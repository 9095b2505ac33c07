// ETRN (RFC 1985) over real sockets: held mail waits until an allowed client asks, then goes to the domain's route host.
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class EtrnTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>A backup MX for held.test (and its subdomains): their mail is held for the route host until ETRN.</summary>
    private static async Task<MtaTestServer> StartAsync(TestSmtpServer routeHost, Action<MtaOptions>? configure = null, TimeProvider? time = null)
    {
        var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Relay.Routes["held.test"] = Hold(routeHost);
            o.Relay.Routes[".held.test"] = Hold(routeHost);
            o.Auth.HashIterations = 100_000;
            configure?.Invoke(o);
        }, time: time);
        server.Services.GetRequiredService<UserStore>().Add("u", "secret", []);
        return server;
    }

    private static NextHopOptions Hold(TestSmtpServer host) =>
        new() { Host = "[127.0.0.1]", Port = host.Port, Tls = OutboundTlsPolicy.None, Hold = true };

    /// <summary>Submits one message and waits until the queue has held it (deferred, nothing sent).</summary>
    private static async Task SubmitHeldAsync(MtaTestServer server, string recipient)
    {
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "sender@example.test", [recipient], $"Subject: for {recipient}\r\n\r\nheld\r\n"), 250);
        }
        await Conditions.WaitUntilAsync(() => Held(server, recipient) is not null, $"{recipient} held", Bound);
    }

    /// <summary>The recipient's queue entry while it is held (deferred), else null.</summary>
    private static RecipientSnapshot? Held(MtaTestServer server, string recipient) =>
        server.Services.GetRequiredService<IQueueAdministration>().List().SelectMany(e => e.Recipients)
            .FirstOrDefault(r => r.Address == recipient && r.State == QueueRecipientState.Deferred);

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));

    [Fact]
    public async Task Held_mail_waits_until_ETRN_from_an_allowed_network_then_goes_to_the_route_host()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync(routeHost, o => o.Turn.EtrnNetworks = ["127.0.0.0/8"]);
        await SubmitHeldAsync(server, "bob@held.test");
        await server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(Bound);
        Assert.Empty(routeHost.Received);
        Assert.Equal(0, routeHost.ConnectionCount);

        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("ETRN", ehlo.Lines);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 253, "2.0.0", "OK, 1 pending message for node held.test started");
        await routeHost.WaitForTransactionsAsync(1, Bound);
        var received = Assert.Single(routeHost.Received);
        Assert.Equal(["bob@held.test"], received.Recipients);
        Assert.Contains("Subject: for bob@held.test", received.DataText);
        // Nothing is waiting any more.
        await WaitForEmptyQueueAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 251, "2.0.0", "no messages waiting for node held.test");
    }

    [Fact]
    public async Task ETRN_at_domain_starts_the_domain_and_its_subdomains()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync(routeHost, o => o.Turn.EtrnNetworks = ["127.0.0.0/8"]);
        await SubmitHeldAsync(server, "carol@sub.held.test");
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        // The plain form is exact: sub.held.test is not held.test.
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 251, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("ETRN @held.test"), 253, "2.0.0", "node @held.test");
        await routeHost.WaitForTransactionsAsync(1, Bound);
        Assert.Equal(["carol@sub.held.test"], Assert.Single(routeHost.Received).Recipients);
    }

    [Fact]
    public async Task ETRN_from_a_client_not_allowed_gets_459_and_the_mail_stays_held()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        // The queue's clock is a fake one: the retry comes when the test moves the clock, not after real minutes.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(routeHost, o => o.Turn.EtrnNetworks = ["192.0.2.0/24"], time);
        await SubmitHeldAsync(server, "bob@held.test");
        var attempts = Held(server, "bob@held.test")!.Attempts;
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 459, "4.7.1", "<held.test>: Node not allowed");
        // Past the next retry the queue looks at the message again and holds it again: neither the refused ETRN nor
        // the passing time sent it to the route host.
        time.Advance(server.Options.Queue.MaxRetryDelay + TimeSpan.FromMinutes(1));
        await Conditions.WaitUntilAsync(() => Held(server, "bob@held.test")?.Attempts > attempts, "the retry that holds it again", Bound);
        Assert.Equal(0, routeHost.ConnectionCount);
    }

    [Fact]
    public async Task An_authenticated_user_may_ETRN_its_own_domains_only()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync(routeHost, o =>
        {
            o.Listeners[0].AllowPlaintextAuth = true;
            o.Turn.Domains["u"] = ["held.test"];
        });
        await SubmitHeldAsync(server, "bob@held.test");
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("ETRN", ehlo.Lines);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 459, "4.7.1");
        SmtpAssert.Reply(await c.CommandAsync("AUTH PLAIN " + Plain("u", "secret")), 235);
        SmtpAssert.Reply(await c.CommandAsync("ETRN other.test"), 459, "4.7.1", "<other.test>: Node not allowed");
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 253, "2.0.0");
        await routeHost.WaitForTransactionsAsync(1, Bound);
    }

    [Fact]
    public async Task ETRN_and_Turn_Domains_compare_domains_without_case_or_trailing_dot()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync(routeHost, o =>
        {
            o.Listeners[0].AllowPlaintextAuth = true;
            o.Turn.Domains["u"] = ["Held.Test."];
        });
        await SubmitHeldAsync(server, "bob@held.test");
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("AUTH PLAIN " + Plain("u", "secret")), 235);
        SmtpAssert.Reply(await c.CommandAsync("ETRN HELD.test."), 253, "2.0.0", "OK, 1 pending message for node HELD.test. started");
        await routeHost.WaitForTransactionsAsync(1, Bound);
        Assert.Equal(["bob@held.test"], Assert.Single(routeHost.Received).Recipients);
    }

    [Fact]
    public async Task ETRN_queue_names_syntax_and_sequence_errors()
    {
        await using var routeHost = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync(routeHost, o => o.Turn.EtrnNetworks = ["127.0.0.0/8"]);
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 503, "5.5.1");
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("ETRN #uucp"), 458, "4.5.4", "queue names are not supported");
        SmtpAssert.Reply(await c.CommandAsync("ETRN bad..domain"), 501, "5.5.4");
        SmtpAssert.Reply(await c.CommandAsync("ETRN"), 501);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("ETRN held.test"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        SmtpAssert.Reply(await c.CommandAsync("HELP ETRN"), 214, "2.0.0", "ETRN");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    private static async Task WaitForEmptyQueueAsync(MtaTestServer server)
    {
        var admin = server.Services.GetRequiredService<IQueueAdministration>();
        await Conditions.WaitUntilAsync(() => admin.List().Count == 0, "an empty queue", Bound);
    }
}
