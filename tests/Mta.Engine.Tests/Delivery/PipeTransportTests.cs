// Pipe transports: bound from config and validated, routed by domain, accepted at RCPT from anyone, delivered by their command.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Queue;
using Mta.Engine.Routing;
using Mta.Engine.Spool;
using Mta.Engine.Tests.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Delivery;

public sealed class PipeTransportTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public PipeTransportTests()
    {
        OpenTestFolder.ForEveryone(_dir.Path);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Transports_bind_from_configuration_and_bad_values_are_named()
    {
        var options = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Listeners:0:Port"] = "25",
            ["Transports:CommandTimeLimit"] = "00:05:00",
            ["Transports:Pipes:archive:Command"] = "/usr/local/bin/archive",
            ["Transports:Pipes:archive:User"] = "archive",
            ["Transports:Pipes:archive:TimeLimit"] = "00:00:30",
            ["Transports:Pipes:archive:Domains:0"] = "archive.example",
            ["Mailboxes:HomeMaildir"] = "Maildir",
        }).Build().Get<MtaOptions>()!;
        Assert.Equal(TimeSpan.FromMinutes(5), options.Transports.CommandTimeLimit);
        var archive = options.Transports.Pipes["ARCHIVE"];
        Assert.Equal(("/usr/local/bin/archive", "archive", TimeSpan.FromSeconds(30)), (archive.Command, archive.User, archive.TimeLimit));
        Assert.Equal(["archive.example"], archive.Domains);
        Assert.Equal("Maildir", options.Mailboxes.HomeMaildir);
        Assert.Empty(MtaOptionsValidator.Validate(options));
        Assert.Equal("nobody", new PipeTransportOptions().User);
        Assert.Equal(TimeSpan.FromSeconds(1000), new TransportOptions().CommandTimeLimit);

        options.LocalDomains = ["local.example"];
        options.Transports.CommandTimeLimit = TimeSpan.Zero;
        options.Transports.Pipes["bad"] = new PipeTransportOptions { Command = " ", User = "root", Domains = ["local.example", "archive.example", "not a domain"] };
        options.Mailboxes.HomeMaildir = "../elsewhere";
        var errors = MtaOptionsValidator.Validate(options);
        foreach (var key in new[] { "Transports:CommandTimeLimit", "Transports:Pipes:bad:Command", "Transports:Pipes:bad:User",
                     "Transports:Pipes:bad:Domains:0", "Transports:Pipes:bad:Domains:1", "Transports:Pipes:bad:Domains:2", "Mailboxes:HomeMaildir" })
            Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void A_transport_domain_is_accepted_from_any_client_with_any_local_part()
    {
        var policy = new RecipientPolicy(["example.test"], new LocalRecipientPolicy(new MailboxOptions { SystemUsers = false }, _ => null),
            ["pipe.example"]);
        var stranger = new RelayClient(IsTrusted: false, AuthenticatedUser: null);
        var address = new SmtpAddress("anyone", "Pipe.Example.");
        Assert.False(policy.IsLocal(address));
        Assert.True(policy.Decide(address, isLocal: false, stranger).IsAccepted);
        Assert.False(policy.Decide(new SmtpAddress("anyone", "sub.pipe.example"), isLocal: false, stranger).IsAccepted);
    }

    [Fact]
    public async Task A_transport_domain_is_routed_to_the_pipe_agent_which_runs_the_command_per_recipient()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("pipe delivery is Unix only");
        var trace = Path.Combine(_dir.Path, "trace");
        await using var q = new QueueHarness(_dir.Path, configure: o => o.Transports.Pipes["filter"] = new PipeTransportOptions
        {
            Command = $"echo \"$RECIPIENT $USER\" >> {trace}; [ \"$LOCAL\" = bad ] && exit 67; exit 0",
            User = UnixAccounts.IsEffectiveRoot ? "nobody" : UnixAccounts.System.ByUid(UnixAccounts.EffectiveUid)?.Name ?? "nobody",
            Domains = ["pipe.example"],
        });
        var message = new QueuedMessage(new SpooledMessage(SpoolTestData.Envelope(null, "ok@Pipe.Example", "bad@pipe.example"), default,
            new HashSet<int>()), q.Spool);
        var router = q.Services.GetRequiredService<Router>();

        var decision = await router.RouteAsync(message, message.Recipients[0], Ct);
        var route = decision.Route!;
        Assert.Equal(new Route(RouteKind.Pipe, "filter"), route.Route);
        Assert.IsType<PipeTransportAgent>(route.Agent);
        Assert.Equal("pipe:filter", route.Destination);

        var result = await route.Agent.DeliverAsync(new DeliveryRequest(message, message.Recipients, route.Route), Ct);
        Assert.Equal(DeliveryStatus.Delivered, result.Recipients[0].Status);
        Assert.Equal((DeliveryStatus.Failed, "5.1.1"), (result.Recipients[1].Status, result.Recipients[1].EnhancedStatus));
        var lines = File.ReadAllLines(trace);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("ok@Pipe.Example ", lines[0], StringComparison.Ordinal);
        if (UnixAccounts.IsEffectiveRoot) Assert.Equal("bad@pipe.example nobody", lines[1]);

        var unknown = await route.Agent.DeliverAsync(new DeliveryRequest(message, message.Recipients, new Route(RouteKind.Pipe, "nosuch")), Ct);
        Assert.All(unknown.Recipients, o => Assert.Equal((DeliveryStatus.Deferred, "4.3.5"), (o.Status, o.EnhancedStatus)));
    }
}
