// The delivery-time router: typed routes (agent, destination, window, next hop) and hook decisions as structured outcomes.
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Queue;
using Mta.Engine.Routing;
using Mta.Engine.Spool;
using Mta.Engine.Tests.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Routing;

public sealed class RouterTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static QueuedMessage Message(QueueHarness q, params string[] recipients) =>
        new(new SpooledMessage(SpoolTestData.Envelope(null, recipients), default, new HashSet<int>()), q.Spool);

    private static async Task<RoutingDecision> RouteAsync(QueueHarness q, string recipient)
    {
        var message = Message(q, recipient);
        return await q.Services.GetRequiredService<Router>().RouteAsync(message, message.Recipients[0], Ct);
    }

    [Fact]
    public async Task A_remote_domain_gets_the_smtp_agent_of_its_next_hop_with_the_destination_window()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o =>
        {
            o.Relay.Resilience.DestinationConcurrency = 7;
            o.Relay.Routes["routed.test"] = new() { Host = "[127.0.0.1]", Port = 2525, Tls = OutboundTlsPolicy.None, Hold = true };
        });

        var mx = (await RouteAsync(q, "bob@Remote.Test.")).Route!;
        Assert.Equal(RouteKind.Remote, mx.Route.Kind);
        Assert.Equal(7, mx.Window);
        Assert.Equal(mx.Hop!.Key, mx.Destination);
        Assert.Equal(mx.Hop.Name, mx.Route.Target);
        Assert.False(mx.Held);

        var routed = (await RouteAsync(q, "carol@routed.test")).Route!;
        Assert.True(routed.Held);
        Assert.NotEqual(mx.Destination, routed.Destination);
        Assert.Equal(q.Remote.Select("routed.test").Key, routed.Destination);
    }

    [Fact]
    public async Task Local_domains_go_to_the_maildir_agent_per_user_without_a_window()
    {
        await using var q = new QueueHarness(_dir.Path);
        var decision = await RouteAsync(q, "Alice@EXAMPLE.org.");
        var route = decision.Route!;
        Assert.Null(decision.Outcome);
        Assert.Equal(new Route(RouteKind.Mailbox, "alice"), route.Route);
        Assert.IsType<MaildirAgent>(route.Agent);
        Assert.Equal("mailbox:alice", route.Destination);
        Assert.Equal(int.MaxValue, route.Window);
        Assert.Null(route.Hop);
    }

    [Fact]
    public async Task Virtual_mailboxes_go_to_their_domain_folder_and_a_detail_to_its_user()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o =>
        {
            o.Virtual.Domains["virt.test"] = new VirtualDomainOptions { Users = ["vera"] };
            o.Mailboxes.RecipientDelimiter = "+";
            o.Mailboxes.Users = ["bob+tag"];
        });
        Assert.Equal(new Route(RouteKind.Mailbox, "virt.test/vera"), (await RouteAsync(q, "Vera+news@Virt.Test")).Route!.Route);
        Assert.Equal(new Route(RouteKind.Mailbox, "alice"), (await RouteAsync(q, "alice+tag@example.org")).Route!.Route);
        // A configured user whose name holds the delimiter keeps its own mailbox.
        Assert.Equal(new Route(RouteKind.Mailbox, "bob+tag"), (await RouteAsync(q, "bob+tag@example.org")).Route!.Route);
    }

    [Fact]
    public async Task With_lmtp_set_virtual_mailboxes_go_by_their_full_address()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o =>
        {
            o.Mailboxes.Lmtp.Endpoint = "unix:/run/dovecot/lmtp";
            o.Virtual.Domains["virt.test"] = new VirtualDomainOptions { Users = ["vera"] };
        });
        var route = (await RouteAsync(q, "vera+x@virt.test")).Route!;
        Assert.Equal(new Route(RouteKind.Mailbox, "vera+x@virt.test"), route.Route);
        Assert.IsType<LmtpAgent>(route.Agent);
    }

    [Fact]
    public async Task With_lmtp_set_local_users_go_to_the_lmtp_agent_as_the_address_received()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o => o.Mailboxes.Lmtp.Endpoint = "unix:/run/dovecot/lmtp");
        var route = (await RouteAsync(q, "Alice@example.org")).Route!;
        Assert.Equal(new Route(RouteKind.Mailbox, "Alice@example.org"), route.Route);
        Assert.IsType<LmtpAgent>(route.Agent);
        Assert.Equal(int.MaxValue, route.Window);

        // Remote domains are not the LMTP server's business.
        Assert.Equal(RouteKind.Remote, (await RouteAsync(q, "bob@remote.test")).Route!.Route.Kind);
    }

    [Fact]
    public async Task A_route_hook_picks_an_agent_or_discard_route()
    {
        await using var q = new QueueHarness(_dir.Path);
        q.Hooks.Register<RouteContext>("pick", (c, _) =>
        {
            c.RouteTo(c.Recipient.Address.LocalPart == "list" ? new Route(RouteKind.Agent, "lists") : new Route(RouteKind.Discard, "spam trap"));
            return ValueTask.FromResult(HookResult.Accept());
        });
        var agent = (await RouteAsync(q, "list@example.org")).Route!;
        Assert.IsType<PluginAgents>(agent.Agent);
        Assert.Equal("agent:lists", agent.Destination);
        var discard = (await RouteAsync(q, "trap@example.org")).Route!;
        Assert.IsType<DiscardAgent>(discard.Agent);
    }

    [Theory]
    [InlineData("reject", "5.7.1", DeliveryStatus.Failed, "5.7.1")]
    [InlineData("reject", null, DeliveryStatus.Failed, "5.0.0")]
    [InlineData("reject", "4.7.1", DeliveryStatus.Failed, "5.0.0")] // a code of the wrong class is not believed
    [InlineData("defer", "4.2.2", DeliveryStatus.Deferred, "4.2.2")]
    [InlineData("defer", null, DeliveryStatus.Deferred, "4.0.0")]
    public async Task A_route_hook_refusal_is_an_outcome_with_a_status_of_its_class(string decision, string? code, DeliveryStatus status, string expected)
    {
        await using var q = new QueueHarness(_dir.Path);
        q.Hooks.Register<RouteContext>("policy", (_, _) => ValueTask.FromResult(decision == "reject"
            ? HookResult.Reject("not here", 550, code)
            : HookResult.Defer("later", 451, code)));
        var routed = await RouteAsync(q, "bob@remote.test");
        Assert.Null(routed.Route);
        Assert.Null(routed.HookRoute);
        Assert.Equal(status, routed.Outcome!.Status);
        Assert.Equal(expected, routed.Outcome.EnhancedStatus);
        Assert.StartsWith("route hook policy: ", routed.Outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deliver_hook_that_delivers_itself_ends_routing_with_the_route_it_took_over()
    {
        await using var q = new QueueHarness(_dir.Path);
        q.Hooks.Register<DeliverContext>("archive", (_, _) => ValueTask.FromResult(HookResult.Accept("archived")));
        var routed = await RouteAsync(q, "alice@example.org");
        Assert.Null(routed.Route);
        Assert.Equal(new Route(RouteKind.Mailbox, "alice"), routed.HookRoute);
        Assert.Equal(DeliveryStatus.Delivered, routed.Outcome!.Status);
        Assert.Equal("2.0.0", routed.Outcome.EnhancedStatus);
    }
}
