// The instruments of Mta.Engine.Telemetry move as real SMTP traffic flows: receive, deliver, defer, refuse, TLS, AUTH, hooks, DNS.
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Testing;
using static Mta.Engine.Telemetry.MtaTelemetry;

namespace Mta.EndToEnd.Tests;

public sealed class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ValueTask<HookResult> R(HookResult result) => ValueTask.FromResult(result);

    private static Task IdleAsync(MtaTestServer server) =>
        server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(30), Ct);

    [Fact]
    public async Task Receiving_and_local_delivery_move_the_connection_transaction_hook_and_delivery_instruments()
    {
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
        {
            r.Register<DataPostContext>("no-spam", (ctx, ct) =>
                R(ctx.Transaction.ReversePath.LocalPart == "spammer" ? HookResult.Reject("No spam", 550, "5.7.1") : HookResult.Continue));
            r.Register<RcptContext>("boom", (ctx, ct) =>
                ctx.Recipient.Address.LocalPart == "boom" ? throw new InvalidOperationException("hook bug") : R(HookResult.Continue));
        });
        using var metrics = new MetricRecorder(server.Services);

        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: one\r\n\r\nhello\r\n"), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "spammer@example.test", ["bob@example.test"], "Subject: two\r\n\r\nbuy\r\n"), 550, "5.7.1");
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<boom@example.test>"), 451, "4.3.0");
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        await server.WaitForMailAsync("bob");
        await MetricRecorder.WaitUntilAsync(() => metrics.Sum(Instruments.DeliveryAttempts, (Tags.Outcome, "delivered")) >= 1, "the delivery counted");
        await MetricRecorder.WaitUntilAsync(() => metrics.Sum(Instruments.ConnectionsOpen) == 0 && metrics.Sum(Instruments.Connections) == 1,
            "the connection closed");

        Assert.Equal(1, metrics.Sum(Instruments.Connections, (Tags.Listener, "smtp")));
        Assert.Equal(1, metrics.Sum(Instruments.Transactions,
            (Tags.Listener, "smtp"), (Tags.Result, "accepted"), (Tags.ReplyCode, "250"), (Tags.EnhancedClass, "2")));
        Assert.Equal(1, metrics.Sum(Instruments.Transactions,
            (Tags.Listener, "smtp"), (Tags.Result, "rejected"), (Tags.ReplyCode, "550"), (Tags.EnhancedClass, "5")));
        Assert.True(metrics.Sum(Instruments.ReceivedBytes, (Tags.Listener, "smtp")) > "Subject: one\r\n\r\nhello\r\n".Length);

        Assert.Equal(1, metrics.Sum(Instruments.DeliveryAttempts, (Tags.Outcome, "delivered"), (Tags.RouteKind, "mailbox")));
        Assert.Single(metrics.Of(Instruments.DeliveryDuration, (Tags.Outcome, "delivered"), (Tags.RouteKind, "mailbox")));

        Assert.Equal(2, metrics.Of(Instruments.HookDuration, (Tags.Hook, nameof(DataPostContext)), (Tags.Handler, "no-spam")).Count);
        Assert.Equal(1, metrics.Sum(Instruments.HookFailures, (Tags.Hook, nameof(RcptContext)), (Tags.Handler, "boom")));
        Assert.Equal(0, metrics.Sum(Instruments.HookFailures, (Tags.Handler, "no-spam")));

        // Everything delivered: the queue gauges read empty.
        await IdleAsync(server);
        Assert.Equal(0, metrics.Gauge(Instruments.QueueRecipients, (Tags.State, "ready")));
        Assert.Equal(0, metrics.Gauge(Instruments.QueueRecipients, (Tags.State, "deferred")));
        Assert.Equal(0, metrics.Gauge(Instruments.QueueOldestAge));
    }

    [Fact]
    public async Task A_dead_destination_counts_deferrals_shows_in_the_queue_gauges_and_opens_its_circuit()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "421 4.3.2 go away" });
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Relay.Routes["remote.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectRetries = 0;
            o.Relay.Resilience.BreakerMinimumThroughput = 2;
        });
        using var metrics = new MetricRecorder(server.Services);

        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            for (var i = 0; i < 2; i++)
            {
                SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", [$"u{i}@remote.test"], $"Subject: {i}\r\n\r\nbody\r\n"), 250);
                await IdleAsync(server);
            }
            // No route and no DNS answer (the stub SERVFAILs): the MX lookup is measured as a temporary failure.
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["x@nowhere.test"], "Subject: dns\r\n\r\nbody\r\n"), 250);
            await IdleAsync(server);
        }

        Assert.True(metrics.Sum(Instruments.DeliveryAttempts, (Tags.Outcome, "deferred"), (Tags.RouteKind, "remote")) >= 3);
        Assert.Equal(0, metrics.Sum(Instruments.DeliveryAttempts, (Tags.Outcome, "delivered")));
        Assert.NotEmpty(metrics.Of(Instruments.DeliveryDuration, (Tags.Outcome, "deferred"), (Tags.RouteKind, "remote")));
        Assert.NotEmpty(metrics.Of(Instruments.DnsLookupDuration, (Tags.Type, "MX"), (Tags.Result, "temporary_failure")));

        Assert.Equal(3, metrics.Gauge(Instruments.QueueRecipients, (Tags.State, "deferred")));
        Assert.Equal(0, metrics.Gauge(Instruments.QueueRecipients, (Tags.State, "active")));
        Assert.True(metrics.Gauge(Instruments.QueueOldestAge) >= 0);
        // The route's destination is open (2); the gauge names it by the destination the pipelines key it by.
        metrics.Observe();
        var circuits = metrics.Of(Instruments.CircuitState);
        Assert.Contains(circuits, m => m.Value == 2 && m.Tags[Tags.Destination] is { Length: > 0 });
    }

    [Fact]
    public async Task Tls_handshakes_auth_failures_and_refused_connections_are_counted()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            o.Auth.HashIterations = 100_000;
            o.Limits.MaxConnections = 1;
        });
        server.Services.GetRequiredService<UserStore>().Add("alice", "correct horse", []);
        using var metrics = new MetricRecorder(server.Services);

        using (var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls, Ct);
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("alice", "wrong", Ct));
            // The one slot is taken: a second connection is refused before its session.
            await using (var extra = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
                Assert.Equal(421, (await extra.ReadReplyAsync()).Code);
            await client.DisconnectAsync(true, Ct);
        }

        Assert.Equal(1, metrics.Sum(Instruments.TlsSessions, (Tags.Listener, "smtp")));
        Assert.Contains(metrics.Of(Instruments.TlsSessions), m => m.Tags[Tags.Protocol] is "TLSv1.2" or "TLSv1.3");
        Assert.True(metrics.Sum(Instruments.AuthFailures, (Tags.Listener, "smtp")) >= 1);
        Assert.All(metrics.Of(Instruments.AuthFailures), m => Assert.Contains(m.Tags[Tags.Mechanism], new[] { "PLAIN", "LOGIN" }));
        Assert.Equal(1, metrics.Sum(Instruments.ConnectionsRefused, (Tags.Listener, "smtp"), (Tags.Reason, "server_full")));
    }

    [Fact]
    public void Every_meter_is_in_the_list_exporters_subscribe_to()
    {
        Assert.Equal(["Mta.Receiver", "Mta.Queue", "Mta.Delivery", "Mta.Hooks", "Mta.Dns", "Mta.Auth"], MeterNames);
        Assert.Equal(["Mta.Receiver", "Mta.Delivery"], ActivitySourceNames);
    }
}
