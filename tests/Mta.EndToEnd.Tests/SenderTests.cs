// The sender side end to end: Mta accepts mail over SMTP and relays it to local test servers, defers, retries on a fake clock, bounces.
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class SenderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Mta relaying for 127.0.0.0/8, with <c>remote.test</c> (and any extra domains) routed to the test server.</summary>
    private static Task<MtaTestServer> StartMtaAsync(TestSmtpServer peer, TimeProvider? time = null, Action<MtaOptions>? configure = null,
        string? dataDirectory = null, bool keep = false, params string[] domains) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            foreach (var domain in domains.Append("remote.test"))
                o.Relay.Routes[domain] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            // Quick in-attempt retries without waiting, so a fake clock never stalls a test.
            o.Relay.Resilience.ConnectRetryDelay = TimeSpan.Zero;
            o.Relay.Timeouts.Greeting = TimeSpan.FromSeconds(10);
            configure?.Invoke(o);
        }, time: time, dataDirectory: dataDirectory, keepDataDirectory: keep);

    private static async Task<string> SendAsync(MtaTestServer server, string from, string[] to, string body)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, to, body), 250, "2.0.0", "queued as");
        return SmtpAssert.QueueIdOf(reply.Lines[^1]);
    }

    private static QueueScheduler Queue(MtaTestServer server) => server.Services.GetRequiredService<QueueScheduler>();
    private static QueueAdministration Admin(MtaTestServer server) => server.Services.GetRequiredService<QueueAdministration>();

    private static Task IdleAsync(MtaTestServer server) => Queue(server).WaitForIdleAsync(TimeSpan.FromSeconds(30), Ct);

    private static async Task AdvanceAsync(MtaTestServer server, FakeTimeProvider time, TimeSpan by)
    {
        time.Advance(by);
        await IdleAsync(server);
    }

    private static async Task<MimeMessage> ReadOnlyMailAsync(MtaTestServer server, string user)
    {
        var file = Assert.Single(await server.WaitForMailAsync(user));
        return await MimeMessage.LoadAsync(file, Ct);
    }

    private static string DeliveryStatus(MimeMessage dsn)
    {
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        using var text = new MemoryStream();
        status.Content!.DecodeTo(text);
        return Encoding.UTF8.GetString(text.ToArray());
    }

    [Fact]
    public async Task Relayed_message_reaches_the_next_hop_intact_with_the_envelope_and_our_trace_field()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartMtaAsync(peer);
        var body = "Subject: relay\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n";
        // The raw client sends the body as given: stuff it here, as any SMTP client would.
        var id = await SendAsync(server, "alice@example.test", ["bob@remote.test", "carol@remote.test"],
            body.Replace("\r\n.", "\r\n..", StringComparison.Ordinal));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await IdleAsync(server);

        var tx = Assert.Single(peer.Received);
        Assert.Equal("alice@example.test", tx.MailFrom);
        Assert.Equal(["bob@remote.test", "carol@remote.test"], tx.Recipients);
        Assert.Equal("mta.test", tx.HeloName);
        Assert.StartsWith("Received: from client.test", tx.DataText, StringComparison.Ordinal);
        Assert.Contains($"id {id}", tx.DataText, StringComparison.Ordinal);
        Assert.EndsWith(body, tx.DataText, StringComparison.Ordinal);
        Assert.Equal(0, Queue(server).PendingRecipients);
        Assert.Empty(Admin(server).List());
    }

    [Fact]
    public async Task Recipients_are_grouped_per_destination_and_connections_are_reused()
    {
        await using var one = await TestSmtpServer.StartAsync();
        await using var two = await TestSmtpServer.StartAsync();
        await using var server = await StartMtaAsync(one, configure: o =>
        {
            o.Relay.Routes["other.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = two.Port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectionCacheTime = TimeSpan.FromSeconds(30);
        });
        await SendAsync(server, "alice@example.test", ["a@remote.test", "x@other.test", "b@remote.test", "y@other.test"], "Subject: 1\r\n\r\nbody\r\n");
        await IdleAsync(server);
        await SendAsync(server, "alice@example.test", ["c@remote.test"], "Subject: 2\r\n\r\nbody\r\n");
        await IdleAsync(server);

        Assert.Equal(2, one.Received.Count);
        Assert.Equal(["a@remote.test", "b@remote.test"], one.Received[0].Recipients);
        Assert.Equal(["c@remote.test"], one.Received[1].Recipients);
        Assert.Equal(["x@other.test", "y@other.test"], Assert.Single(two.Received).Recipients);
        // The second message went over the first connection, after an RSET.
        Assert.Equal(1, one.ConnectionCount);
        Assert.Contains("RSET", one.Commands);
    }

    [Fact]
    public async Task Mx_records_from_the_resolver_are_tried_in_preference_order()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var dns = StubDnsServer.Start();
        // The preferred MX refuses connections (nothing listens on 127.0.0.2); the second one is the test server.
        dns.AddMx("mx.test", 10, "dead.mx.test");
        dns.AddMx("mx.test", 20, "live.mx.test");
        dns.AddA("dead.mx.test", "127.0.0.2");
        dns.AddA("live.mx.test", "127.0.0.1");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Dns.Servers = [dns.EndPoint.ToString()];
            o.Relay.Timeouts.Connect = TimeSpan.FromSeconds(2);
            o.Relay.Resilience.ConnectRetries = 0;
            // A bare host in a transport-map entry keeps the MX lookup; the entry only moves the port off 25.
            o.Relay.Routes["mx.test"] = new NextHopOptions { Host = "mx.test", Port = peer.Port, Tls = OutboundTlsPolicy.None };
        });
        await SendAsync(server, "alice@example.test", ["bob@mx.test"], "Subject: mx\r\n\r\nvia the second MX\r\n");
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Equal(["bob@mx.test"], Assert.Single(peer.Received).Recipients);
        Assert.Contains(dns.Queries, q => q.Name.TrimEnd('.').Equals("mx.test", StringComparison.OrdinalIgnoreCase) && q.Type == "MX");
    }

    [Fact]
    public async Task Null_mx_domain_bounces_at_once_with_a_dsn_to_the_sender()
    {
        await using var dns = StubDnsServer.Start();
        dns.AddMx("nullmx.test", 0, ".");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Dns.Servers = [dns.EndPoint.ToString()];
        });
        await SendAsync(server, "alice@example.test", ["bob@nullmx.test"], "Subject: to a null MX\r\n\r\nbody\r\n");
        var dsn = await ReadOnlyMailAsync(server, "alice");
        var status = DeliveryStatus(dsn);
        Assert.Contains("Action: failed", status, StringComparison.Ordinal);
        Assert.Contains("Status: 5.1.10", status, StringComparison.Ordinal);
        Assert.Contains("Final-Recipient: rfc822; bob@nullmx.test", status, StringComparison.Ordinal);
        await IdleAsync(server);
        Assert.Equal(0, Queue(server).PendingRecipients);
    }

    [Fact]
    public async Task Permanent_rcpt_failure_is_not_retried_and_bounces_with_the_servers_reply()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            RcptReply = rcpt => rcpt.StartsWith("nobody", StringComparison.Ordinal) ? "550 5.1.1 <nobody@remote.test>: user unknown" : null,
        });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time);
        await SendAsync(server, "alice@example.test", ["nobody@remote.test", "bob@remote.test"], "Subject: partly\r\nMessage-ID: <m1@example.test>\r\n\r\nbody\r\n");
        await IdleAsync(server);

        Assert.Equal(["bob@remote.test"], Assert.Single(peer.Received).Recipients);
        var dsn = await ReadOnlyMailAsync(server, "alice");
        Assert.Equal("Undelivered Mail Returned to Sender", dsn.Subject);
        Assert.Equal("auto-replied", dsn.Headers["Auto-Submitted"]);
        var status = DeliveryStatus(dsn);
        Assert.Contains("Final-Recipient: rfc822; nobody@remote.test", status, StringComparison.Ordinal);
        Assert.Contains("Status: 5.1.1", status, StringComparison.Ordinal);
        Assert.Contains("Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>: user unknown", status, StringComparison.Ordinal);
        Assert.Contains("Remote-MTA: dns; 127.0.0.1", status, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@remote.test", status, StringComparison.Ordinal);
        // The original comes back (RET not given, small message).
        var original = Assert.IsType<MessagePart>(Assert.IsType<MultipartReport>(dsn.Body)[2]);
        Assert.Equal("<m1@example.test>", "<" + original.Message!.MessageId + ">");

        // 5xx is final: an hour later nothing is tried again.
        var rcpts = peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal));
        await AdvanceAsync(server, time, TimeSpan.FromHours(1));
        Assert.Equal(rcpts, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
        Assert.Equal(0, Queue(server).PendingRecipients);
    }

    [Fact]
    public async Task Temporary_failure_is_retried_at_the_scheduled_time_and_then_delivered()
    {
        var refusals = 2;
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            RcptReply = _ => Interlocked.Decrement(ref refusals) >= 0 ? "451 4.7.1 greylisted, try again later" : null,
        });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time);
        var id = await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: grey\r\n\r\nbody\r\n");
        await IdleAsync(server);
        Assert.Empty(peer.Received);

        var entry = Assert.Single(Admin(server).List());
        Assert.Equal(id, entry.QueueId);
        var rcpt = Assert.Single(entry.Recipients);
        Assert.Equal(QueueRecipientState.Deferred, rcpt.State);
        Assert.Equal(1, rcpt.Attempts);
        Assert.Equal(T0 + TimeSpan.FromMinutes(5), rcpt.NextAttempt);
        Assert.Contains("451 4.7.1 greylisted", rcpt.LastError, StringComparison.Ordinal);

        // Not a second early; then at 5 min (age 5 -> next wait 5 min), then at 10 min it goes through.
        await AdvanceAsync(server, time, TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Equal(1, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
        await AdvanceAsync(server, time, TimeSpan.FromSeconds(1));
        Assert.Equal(2, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), Assert.Single(Assert.Single(Admin(server).List()).Recipients).NextAttempt);
        await AdvanceAsync(server, time, TimeSpan.FromMinutes(5));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        Assert.Empty(Admin(server).List());
        Assert.False(Directory.Exists(server.MaildirNew("alice")), "no DSN for a message that was delivered");
    }

    [Fact]
    public async Task Dropped_connection_defers_and_the_retry_delivers()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { DropAt = DropPoint.BeforeFinalReply });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time);
        await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: drop\r\n\r\nbody\r\n");
        await IdleAsync(server);
        var rcpt = Assert.Single(Assert.Single(Admin(server).List()).Recipients);
        Assert.Equal(QueueRecipientState.Deferred, rcpt.State);

        peer.Options.DropAt = DropPoint.None;
        await AdvanceAsync(server, time, TimeSpan.FromMinutes(5));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        Assert.Empty(Admin(server).List());
    }

    [Fact]
    public async Task Slow_server_past_the_rfc_timeout_defers()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromSeconds(3) });
        await using var server = await StartMtaAsync(peer, configure: o =>
        {
            o.Relay.Timeouts.Greeting = TimeSpan.FromSeconds(1);
            o.Relay.Resilience.ConnectRetries = 0;
        });
        await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: slow\r\n\r\nbody\r\n");
        await IdleAsync(server);
        var rcpt = Assert.Single(Assert.Single(Admin(server).List()).Recipients);
        Assert.Equal(QueueRecipientState.Deferred, rcpt.State);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task Dead_destination_opens_the_circuit_then_mail_waits_without_attempts_until_it_closes()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "421 4.3.2 service not available" });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time, o =>
        {
            o.Relay.Resilience.ConnectRetries = 0;
            o.Relay.Resilience.BreakerMinimumThroughput = 3;
            o.Relay.Resilience.BreakDuration = TimeSpan.FromMinutes(5);
        });
        for (var i = 0; i < 3; i++)
        {
            await SendAsync(server, "alice@example.test", [$"u{i}@remote.test"], $"Subject: {i}\r\n\r\nbody\r\n");
            await IdleAsync(server);
        }
        Assert.Equal(3, peer.ConnectionCount);

        // The circuit is open: the fourth message is deferred without a connection.
        await SendAsync(server, "alice@example.test", ["late@remote.test"], "Subject: 4\r\n\r\nbody\r\n");
        await IdleAsync(server);
        Assert.Equal(3, peer.ConnectionCount);
        var late = Admin(server).List().Single(e => e.Recipients[0].Address == "late@remote.test").Recipients[0];
        Assert.Contains("not responding", late.LastError, StringComparison.Ordinal);

        // The destination recovers. After the break the circuit is half open: one delivery probes it (the others
        // due at the same moment are deferred once more), its success closes the circuit, and the rest follow.
        peer.Options.Greeting = null;
        await AdvanceAsync(server, time, TimeSpan.FromMinutes(5));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await AdvanceAsync(server, time, TimeSpan.FromMinutes(5));
        await peer.WaitForTransactionsAsync(4, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        Assert.Empty(Admin(server).List());
    }

    [Fact]
    public async Task Deferred_mail_keeps_its_schedule_across_a_restart()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "452 4.2.2 mailbox full" });
        var time = new FakeTimeProvider(T0);
        var data = Path.Combine(Path.GetTempPath(), "mta-e2e-restart-" + Guid.NewGuid().ToString("n")[..8]);
        string id;
        try
        {
            await using (var first = await StartMtaAsync(peer, time, dataDirectory: data, keep: true))
            {
                id = await SendAsync(first, "alice@example.test", ["bob@remote.test"], "Subject: persist\r\n\r\nbody\r\n");
                await IdleAsync(first);
            }
            var rcpts = peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal));
            Assert.Equal(1, rcpts);

            time.Advance(TimeSpan.FromMinutes(2));
            await using var second = await StartMtaAsync(peer, time, dataDirectory: data);
            await IdleAsync(second);
            // Not retried at start: it waits for its time, which the restart kept, with its last error.
            Assert.Equal(1, peer.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
            var rcpt = Assert.Single(Assert.Single(Admin(second).List()).Recipients);
            Assert.Equal(id, Admin(second).List()[0].QueueId);
            Assert.Equal(QueueRecipientState.Deferred, rcpt.State);
            Assert.Equal(T0 + TimeSpan.FromMinutes(5), rcpt.NextAttempt);
            Assert.Contains("452 4.2.2 mailbox full", rcpt.LastError, StringComparison.Ordinal);

            peer.Options.RcptReply = null;
            await AdvanceAsync(second, time, TimeSpan.FromMinutes(3));
            await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        }
        finally
        {
            MtaTestServer.DeleteQuietly(data);
        }
    }

    [Fact]
    public async Task Expiry_bounces_with_the_last_error_and_a_delay_warning_came_first()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "450 4.2.1 try later" });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time, o =>
        {
            o.Queue.MaxLifetime = TimeSpan.FromHours(3);
            o.Queue.DelayWarningAfter = TimeSpan.FromHours(1);
        });
        await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: doomed\r\n\r\nbody\r\n");
        await IdleAsync(server);
        for (var i = 0; i < 40 && Queue(server).PendingRecipients > 0; i++)
            await AdvanceAsync(server, time, TimeSpan.FromMinutes(10));
        Assert.Equal(0, Queue(server).PendingRecipients);

        var mails = await server.WaitForMailAsync("alice", 2);
        var messages = new List<MimeMessage>();
        foreach (var f in mails) messages.Add(await MimeMessage.LoadAsync(f, Ct));
        var delayed = Assert.Single(messages, m => m.Subject?.StartsWith("Delayed Mail", StringComparison.Ordinal) == true);
        Assert.Contains("Action: delayed", DeliveryStatus(delayed), StringComparison.Ordinal);
        Assert.Contains("Will-Retry-Until:", DeliveryStatus(delayed), StringComparison.Ordinal);
        var failed = Assert.Single(messages, m => m.Subject == "Undelivered Mail Returned to Sender");
        var status = DeliveryStatus(failed);
        Assert.Contains("Action: failed", status, StringComparison.Ordinal);
        Assert.Contains("Status: 4.4.7", status, StringComparison.Ordinal);
        Assert.Contains("450 4.2.1 try later", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_message_for_the_next_hop_bounces_without_a_transaction()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            Extensions = ["PIPELINING", "SIZE 1000", "8BITMIME", "ENHANCEDSTATUSCODES"],
        });
        await using var server = await StartMtaAsync(peer);
        await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 50)));
        var dsn = await ReadOnlyMailAsync(server, "alice");
        Assert.Contains("Status: 5.3.4", DeliveryStatus(dsn), StringComparison.Ordinal);
        Assert.DoesNotContain(peer.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bounce_of_a_bounce_goes_to_the_postmaster_and_never_loops()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "550 5.1.1 no such user" });
        await using var server = await StartMtaAsync(peer, configure: o => o.Mailboxes.Postmaster = "admin");
        // A bounce from elsewhere (null reverse-path) that cannot be delivered.
        await SendAsync(server, "", ["gone@remote.test"], "Subject: a bounce\r\n\r\nbody\r\n");
        var notice = await ReadOnlyMailAsync(server, "admin");
        Assert.StartsWith("Postmaster Copy:", notice.Subject, StringComparison.Ordinal);
        await IdleAsync(server);
        Assert.Equal(0, Queue(server).PendingRecipients);
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Success_notification_only_when_asked_and_dsn_parameters_pass_on()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartMtaAsync(peer);
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ+2B1"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@remote.test"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test> NOTIFY=SUCCESS"), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, [], "Subject: dsn\r\n\r\nbody\r\n"), 250);
        }
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        var tx = Assert.Single(peer.Received);
        Assert.Contains("RET=HDRS", tx.MailLine, StringComparison.Ordinal);
        Assert.Contains("ENVID=QQ+2B1", tx.MailLine, StringComparison.Ordinal);
        Assert.Contains("NOTIFY=SUCCESS,FAILURE", Assert.Single(tx.RcptLines), StringComparison.Ordinal);
        Assert.Contains("ORCPT=rfc822;bob@remote.test", tx.RcptLines[0], StringComparison.Ordinal);

        // carol was delivered locally and asked for SUCCESS: one "delivered" report; bob's DSN duty went to the peer.
        var report = await ReadOnlyMailAsync(server, "alice");
        var status = DeliveryStatus(report);
        Assert.Contains("Action: delivered", status, StringComparison.Ordinal);
        Assert.Contains("Status: 2.0.0", status, StringComparison.Ordinal);
        Assert.DoesNotContain("Status: 4.", status, StringComparison.Ordinal);
        Assert.Contains("carol@example.test", status, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@remote.test", status, StringComparison.Ordinal);
        Assert.Contains("Original-Envelope-Id: QQ+1", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_flush_and_delete_act_on_the_running_queue()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "451 4.3.0 later" });
        var time = new FakeTimeProvider(T0);
        await using var server = await StartMtaAsync(peer, time);
        var keep = await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: flush me\r\n\r\nbody\r\n");
        var drop = await SendAsync(server, "alice@example.test", ["carol@remote.test"], "Subject: delete me\r\n\r\nbody\r\n");
        await IdleAsync(server);
        var admin = server.Services.GetRequiredService<IQueueAdministration>();
        Assert.Equal(2, admin.List().Count);

        Assert.Equal(1, await admin.DeleteAsync(drop, Ct));
        Assert.Null(admin.Find(drop));
        Assert.Equal(0, await admin.DeleteAsync(drop, Ct));

        peer.Options.RcptReply = null;
        Assert.Equal(1, admin.Flush(keep));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        Assert.Empty(admin.List());
        Assert.Equal(["bob@remote.test"], Assert.Single(peer.Received).Recipients);
        Assert.False(Directory.Exists(server.MaildirNew("alice")), "delete sends no DSN");
    }

    [Fact]
    public async Task Destination_concurrency_limit_parks_deliveries_instead_of_opening_more_connections()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromMilliseconds(50) });
        await using var server = await StartMtaAsync(peer, configure: o =>
        {
            o.Relay.Resilience.DestinationConcurrency = 1;
            o.Relay.Resilience.ConnectionCacheTime = TimeSpan.FromSeconds(30);
        });
        // Five messages at once, each its own transaction to the same destination.
        await Task.WhenAll(Enumerable.Range(0, 5).Select(i =>
            SendAsync(server, "alice@example.test", [$"u{i}@remote.test"], $"Subject: {i}\r\n\r\nbody\r\n")));
        await peer.WaitForTransactionsAsync(5, TimeSpan.FromSeconds(30));
        await IdleAsync(server);
        // One at a time: each waiting delivery was parked and woken when the slot freed, then reused the one connection.
        Assert.Equal(1, peer.ConnectionCount);
        Assert.Empty(Admin(server).List());
    }

    [Fact]
    public async Task Smart_host_with_required_tls_and_auth_gets_all_remote_mail()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            OfferStartTls = true,
            AuthUsers = new Dictionary<string, string> { ["relayuser"] = "s3cret" },
        });
        var passwordFile = Path.Combine(Path.GetTempPath(), "mta-smarthost-" + Guid.NewGuid().ToString("n")[..8]);
        await File.WriteAllTextAsync(passwordFile, "s3cret\n", Ct);
        try
        {
            await using var server = await MtaTestServer.StartAsync(o =>
            {
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                o.Relay.SmartHost = new NextHopOptions
                {
                    Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.Encrypt, UserName = "relayuser", PasswordFile = passwordFile,
                };
            });
            await SendAsync(server, "alice@example.test", ["a@one.test", "b@two.test"], "Subject: via the smart host\r\n\r\nbody\r\n");
            await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
            var tx = Assert.Single(peer.Received);
            // Both domains share the smart host as one destination: one transaction, over TLS, authenticated.
            Assert.Equal(["a@one.test", "b@two.test"], tx.Recipients);
            Assert.True(tx.Tls);
            Assert.Equal("relayuser", tx.AuthUser);
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    [Fact]
    public async Task Required_tls_that_the_next_hop_does_not_offer_defers_instead_of_sending_in_clear()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartMtaAsync(peer, configure: o =>
        {
            o.Relay.Routes["remote.test"].Tls = OutboundTlsPolicy.Encrypt;
            o.Relay.Resilience.ConnectRetries = 0;
        });
        await SendAsync(server, "alice@example.test", ["bob@remote.test"], "Subject: secret\r\n\r\nbody\r\n");
        await IdleAsync(server);
        var rcpt = Assert.Single(Assert.Single(Admin(server).List()).Recipients);
        Assert.Equal(QueueRecipientState.Deferred, rcpt.State);
        Assert.Contains("STARTTLS", rcpt.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain(peer.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deliveries_parked_on_a_destination_whose_circuit_opens_are_still_woken_and_deferred()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "421 4.3.2 go away" });
        await using var server = await StartMtaAsync(peer, configure: o =>
        {
            o.Relay.Resilience.DestinationConcurrency = 1;
            o.Relay.Resilience.ConnectRetries = 0;
            o.Relay.Resilience.BreakerMinimumThroughput = 2;
        });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            SendAsync(server, "alice@example.test", [$"u{i}@remote.test"], $"Subject: {i}\r\n\r\nbody\r\n")));
        // Idle means nobody is parked or active any more: every one was tried or refused by the open circuit.
        await IdleAsync(server);
        var states = Admin(server).List().SelectMany(e => e.Recipients).Select(r => r.State).ToArray();
        Assert.Equal(8, states.Length);
        Assert.All(states, s => Assert.Equal(QueueRecipientState.Deferred, s));
    }

    [Fact]
    public async Task Routes_to_one_host_with_different_tls_policies_never_share_a_transaction_or_a_connection()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartMtaAsync(peer, configure: o =>
        {
            o.Relay.Routes["secret.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.Encrypt };
            o.Relay.Resilience.ConnectRetries = 0;
            o.Relay.Resilience.ConnectionCacheTime = TimeSpan.FromSeconds(30);
        });
        await SendAsync(server, "alice@example.test", ["bob@remote.test", "carol@secret.test"], "Subject: mixed\r\n\r\nbody\r\n");
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        await IdleAsync(server);
        // The clear-text route delivered; the one that requires TLS did not go out in clear over the same host.
        Assert.Equal(["bob@remote.test"], Assert.Single(peer.Received).Recipients);
        var secret = Assert.Single(Assert.Single(Admin(server).List()).Recipients, r => r.Address == "carol@secret.test");
        Assert.Equal(QueueRecipientState.Deferred, secret.State);
        Assert.Contains("STARTTLS", secret.LastError, StringComparison.Ordinal);
    }
}
