// The SMTP delivery agent's structured outcomes: status codes from replies and failures, remote reply and host, success notice.
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Tests.Delivery;
using Mta.Engine.Tests.Spool;
using Mta.Protocol;
using Mta.Testing;

namespace Mta.Engine.Tests.Outbound;

public sealed class SmtpDeliveryAgentTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static SmtpDeliveryAgent Agent(ITargetResolver resolver)
    {
        var options = new MtaOptions { HostName = "mta.test" };
        options.Relay.Resilience.ConnectRetries = 0;
        return new SmtpDeliveryAgent(options, new NextHopSelector(options), resolver, new FakeTimeProvider(), NullLogger<SmtpDeliveryAgent>.Instance);
    }

    private static Task<DeliveryResult> DeliverAsync(TestSmtpServer peer, params string[] recipients) =>
        DeliverAsync(new FixedResolver(new SmtpTarget("mx.remote.test", IPAddress.Loopback, peer.Port)), recipients);

    private static async Task<DeliveryResult> DeliverAsync(ITargetResolver resolver, params string[] recipients)
    {
        await using var agent = Agent(resolver);
        return await agent.DeliverAsync(new TestMessage(recipients).To(RouteKind.Remote, "remote.test"), Ct);
    }

    [Fact]
    public async Task Each_recipient_gets_the_code_and_reply_that_decided_it_and_the_host_that_gave_it()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            RcptReply = rcpt => rcpt.Split('@')[0] switch
            {
                "nobody" => "550 5.1.1 <nobody@remote.test>: user unknown",
                "full" => "452 4.2.2 mailbox full",
                "plain" => "550 no such user",
                "odd" => "550 4.1.1 mismatched classes",
                _ => null,
            },
        });

        var result = await DeliverAsync(peer, "bob@remote.test", "nobody@remote.test", "full@remote.test", "plain@remote.test", "odd@remote.test");

        var host = $"mx.remote.test[127.0.0.1]:{peer.Port}";
        var (bob, nobody, full, plain, odd) = (result.Recipients[0], result.Recipients[1], result.Recipients[2], result.Recipients[3], result.Recipients[4]);
        Assert.Equal((DeliveryStatus.Delivered, "2.0.0", host), (bob.Status, bob.EnhancedStatus, bob.RemoteHost));
        Assert.StartsWith("250 2.0.0 ", bob.RemoteReply, StringComparison.Ordinal);
        Assert.Equal((DeliveryStatus.Failed, "5.1.1", "550 5.1.1 <nobody@remote.test>: user unknown", host),
            (nobody.Status, nobody.EnhancedStatus, nobody.RemoteReply, nobody.RemoteHost));
        // The detail stays the line logs and `mta queue list` have always shown.
        Assert.Equal("host mx.remote.test[127.0.0.1] said: 550 5.1.1 <nobody@remote.test>: user unknown (in reply to RCPT TO command)", nobody.Detail);
        Assert.Equal((DeliveryStatus.Deferred, "4.2.2", "452 4.2.2 mailbox full"), (full.Status, full.EnhancedStatus, full.RemoteReply));
        // No enhanced code, or one whose class contradicts the reply's (RFC 2034): the reply's class alone.
        Assert.Equal((DeliveryStatus.Failed, "5.0.0", "550 no such user"), (plain.Status, plain.EnhancedStatus, plain.RemoteReply));
        Assert.Equal((DeliveryStatus.Failed, "5.0.0"), (odd.Status, odd.EnhancedStatus));
    }

    [Fact]
    public async Task A_delivered_recipient_is_relayed_unless_the_server_took_the_dsn_duty()
    {
        await using var withDsn = await TestSmtpServer.StartAsync();
        await using var withoutDsn = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"] });

        Assert.Equal(SuccessNotice.None, Assert.Single((await DeliverAsync(withDsn, "bob@remote.test")).Recipients).Notice);
        Assert.Equal(SuccessNotice.Relayed, Assert.Single((await DeliverAsync(withoutDsn, "bob@remote.test")).Recipients).Notice);
    }

    [Fact]
    public async Task A_message_the_server_cannot_take_fails_with_the_local_refusals_code_and_no_reply()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "ENHANCEDSTATUSCODES", "SIZE 10"] });

        var outcome = Assert.Single((await DeliverAsync(peer, "bob@remote.test")).Recipients);

        Assert.Equal((DeliveryStatus.Failed, "5.3.4", null), (outcome.Status, outcome.EnhancedStatus, outcome.RemoteReply));
        Assert.StartsWith("5.3.4 message size ", outcome.Detail, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Theory]
    [InlineData(TargetResolutionStatus.NullMx, DeliveryStatus.Failed, "5.1.10")]
    [InlineData(TargetResolutionStatus.NotFound, DeliveryStatus.Failed, "5.4.4")]
    [InlineData(TargetResolutionStatus.TemporaryFailure, DeliveryStatus.Deferred, "4.4.3")]
    public async Task Resolution_failures_have_their_own_codes(TargetResolutionStatus status, DeliveryStatus expected, string code)
    {
        var result = await DeliverAsync(new FixedResolver(new TargetResolution(status, [], "remote.test: it says so")), "a@remote.test", "b@remote.test");

        Assert.Equal(2, result.Recipients.Count);
        Assert.All(result.Recipients, o =>
            Assert.Equal((expected, code, code + " remote.test: it says so", null, null), (o.Status, o.EnhancedStatus, o.Detail, o.RemoteReply, o.RemoteHost)));
    }

    [Fact]
    public async Task A_destination_that_does_not_answer_defers_with_4_4_1()
    {
        // A port nobody listens on: bound, then released.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var outcome = Assert.Single((await DeliverAsync(new FixedResolver(new SmtpTarget("mx.remote.test", IPAddress.Loopback, port)), "a@remote.test")).Recipients);

        Assert.Equal((DeliveryStatus.Deferred, "4.4.1"), (outcome.Status, outcome.EnhancedStatus));
        Assert.StartsWith("4.4.1 ", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_destination_whose_circuit_opened_is_suspended_with_4_4_1_until_a_flush_closes_it()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "421 4.3.2 go away" });
        var options = new MtaOptions { HostName = "mta.test" };
        options.Relay.Resilience.ConnectRetries = 0;
        options.Relay.Resilience.BreakerMinimumThroughput = 2;
        await using var agent = new SmtpDeliveryAgent(options, new NextHopSelector(options),
            new FixedResolver(new SmtpTarget("mx.remote.test", IPAddress.Loopback, peer.Port)), new FakeTimeProvider(), NullLogger<SmtpDeliveryAgent>.Instance);
        var request = new TestMessage("bob@remote.test").To(RouteKind.Remote, "remote.test");

        var first = Assert.Single((await agent.DeliverAsync(request, Ct)).Recipients);
        await agent.DeliverAsync(request, Ct);
        var connections = peer.ConnectionCount;
        var suspended = Assert.Single((await agent.DeliverAsync(request, Ct)).Recipients);

        Assert.Equal((DeliveryStatus.Deferred, "4.4.1"), (first.Status, first.EnhancedStatus));
        Assert.Equal((DeliveryStatus.Deferred, "4.4.1"), (suspended.Status, suspended.EnhancedStatus));
        Assert.StartsWith("4.4.1 delivery temporarily suspended until ", suspended.Detail, StringComparison.Ordinal);
        Assert.Equal(connections, peer.ConnectionCount);

        await agent.ResetDestinationsOfAsync("Remote.Test.");
        await agent.DeliverAsync(request, Ct);
        Assert.True(peer.ConnectionCount > connections, "the flush closed the circuit, so the destination was tried again");
    }

    [Theory]
    [InlineData(SessionStage.Mail, 451, "4.7.1", "4.7.1")] // a transient reply's own code
    [InlineData(SessionStage.Mail, 451, null, "4.0.0")]
    [InlineData(SessionStage.Mail, 554, "5.7.1", "4.4.2")] // a permanent reply ends the session, not the mail: deferred
    [InlineData(SessionStage.Connect, 0, null, "4.4.1")]
    [InlineData(SessionStage.Data, 0, null, "4.4.2")]
    public void A_failed_session_defers_with_the_reply_code_or_the_stage(SessionStage stage, int code, string? enhanced, string expected)
    {
        var reply = code == 0 ? null : new SmtpReply(code, enhanced, "text");

        Assert.Equal(expected, SmtpDeliveryAgent.SessionStatus(new SmtpSessionException("failed", stage, reply)));
    }

    [Theory]
    [InlineData(250, "2.0.0", DeliveryStatus.Delivered, "2.0.0")]
    [InlineData(250, null, DeliveryStatus.Delivered, "2.0.0")]
    [InlineData(550, "5.1.10", DeliveryStatus.Failed, "5.1.10")]
    [InlineData(554, null, DeliveryStatus.Failed, "5.0.0")]
    [InlineData(421, "4.3.2", DeliveryStatus.Deferred, "4.3.2")]
    [InlineData(354, null, DeliveryStatus.Deferred, "4.0.0")] // an odd reply where a refusal was due: the outcome's class
    [InlineData(250, "2.1.5", DeliveryStatus.Deferred, "4.0.0")]
    public void The_status_of_a_reply_is_its_enhanced_code_or_its_class(int code, string? enhanced, DeliveryStatus status, string expected)
    {
        Assert.Equal(expected, SmtpDeliveryAgent.StatusOf(new SmtpReply(code, enhanced, "text"), status));
    }

    [Fact]
    public void The_envelope_carries_body_ret_envid_and_smtputf8_of_a_spooled_message_only()
    {
        var stored = SpoolTestData.EnvelopeFrom(new SmtpAddress("sénder", "example.org"), null, "bob@remote.test") with
        {
            MailParameters = new Dictionary<string, string?> { ["BODY"] = "8BITMIME", ["RET"] = "HDRS", ["ENVID"] = "id+2Bx", ["SMTPUTF8"] = null },
        };
        var spooled = new TestSpooledMessage(stored);

        var envelope = SmtpDeliveryAgent.BuildEnvelope(new DeliveryRequest(spooled, spooled.Recipients, new Route(RouteKind.Remote, "remote.test")));
        var plain = SmtpDeliveryAgent.BuildEnvelope(new TestMessage("bob@remote.test").To(RouteKind.Remote, "remote.test"));

        Assert.Equal((BodyType.EightBitMime, DsnReturn.Headers, "id+x", true), (envelope.Body, envelope.Ret, envelope.EnvelopeId, envelope.RequiresSmtpUtf8));
        Assert.Equal((BodyType.Unspecified, DsnReturn.Unspecified, (string?)null, false), (plain.Body, plain.Ret, plain.EnvelopeId, plain.RequiresSmtpUtf8));
        Assert.Equal(spooled.Content.Size, envelope.Size);
    }

    private sealed class FixedResolver(TargetResolution resolution) : ITargetResolver
    {
        public FixedResolver(SmtpTarget target) : this(new TargetResolution(TargetResolutionStatus.Found, [target], "found")) { }

        public Task<TargetResolution> ResolveAsync(NextHop hop, CancellationToken ct) => Task.FromResult(resolution);
    }
}
