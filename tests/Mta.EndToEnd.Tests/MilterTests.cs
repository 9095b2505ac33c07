// Mta's milter client against our own test milter over real sockets: every stage, reply kind, change and failure.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Control;
using Mta.Engine.Configuration;
using Mta.MilterTestServer;

namespace Mta.EndToEnd.Tests;

public sealed class MilterTests
{
    private const string Message = "From: a@remote.test\r\nTo: bob@example.test\r\nSubject: hello\r\n\r\nbody line 1\r\nbody line 2\r\n";

    /// <summary>A test milter started with <paramref name="args"/> (its command line), and an Mta whose listener runs it.</summary>
    private static async Task<(TestMilter Milter, MtaTestServer Server)> StartAsync(string[] args, Action<MilterDefinition>? definition = null,
        Action<MtaOptions>? configure = null)
    {
        var milter = TestMilter.Start(TestMilterOptions.Parse(args));
        try
        {
            var server = await MtaTestServer.StartAsync(o =>
            {
                var d = new MilterDefinition { Address = milter.Address, CommandTimeout = TimeSpan.FromSeconds(5), EndOfMessageTimeout = TimeSpan.FromSeconds(5) };
                definition?.Invoke(d);
                o.Milters.Definitions["test"] = d;
                o.Listeners[0].Milters = ["test"];
                configure?.Invoke(o);
            });
            return (milter, server);
        }
        catch
        {
            await milter.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task A_no_op_milter_sees_every_stage_and_the_message_is_delivered()
    {
        var (milter, server) = await StartAsync([]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            var reply = await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message);
            SmtpAssert.Reply(reply, 250, "2.0.0", "queued as");
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }
        var delivered = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob")));
        Assert.Contains("body line 2", delivered);
        await milter.WaitForAsync("QUIT");
        var commands = milter.Received.Select(r => r.Command).ToArray();
        Assert.Equal(["OPTNEG", "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "HEADER", "HEADER", "HEADER", "EOH", "BODY", "EOM", "ABORT", "QUIT"], commands);
        var headers = milter.Received.Where(r => r.Command == "HEADER").Select(r => r.Arguments[0] + "=" + r.Arguments[1]).ToArray();
        Assert.Equal(["From=a@remote.test", "To=bob@example.test", "Subject=hello"], headers);
        Assert.Equal("26", Assert.Single(milter.Received, r => r.Command == "BODY").Arguments[0]);
    }

    [Fact]
    public async Task Reject_at_rcpt_refuses_that_recipient_and_the_transaction_goes_on()
    {
        var (milter, server) = await StartAsync(["--at", "rcpt=reject", "--only", "bob@"]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.7.1", "Command rejected");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync(Message + ".\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        Assert.Single(await server.WaitForMailAsync("alice"));
    }

    [Fact]
    public async Task Added_header_is_in_the_delivered_message()
    {
        var (milter, server) = await StartAsync(["--add-header", "X-Milter: seen by test"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message), 250);
        }
        var delivered = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob")));
        var head = delivered[..delivered.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.EndsWith("Subject: hello\r\nX-Milter: seen by test", head);
    }

    /// <summary>Runs EHLO, MAIL, RCPT bob, DATA and the message; returns the first reply that is no success and the
    /// command it answered ("done" and the final reply when every step succeeded).</summary>
    private static async Task<(string Step, RawReply Reply)> RunSessionAsync(RawSmtpClient c)
    {
        foreach (var (step, line) in new[] { ("EHLO", "EHLO client.test"), ("MAIL", "MAIL FROM:<a@remote.test>"), ("RCPT", "RCPT TO:<bob@example.test>"), ("DATA", "DATA") })
        {
            var reply = await c.CommandAsync(line);
            if (reply.Code is not (250 or 354)) return (step, reply);
        }
        await c.SendAsync(Message + ".\r\n");
        var final = await c.ReadReplyAsync();
        return (final.Code == 250 ? "done" : "EOM", final);
    }

    [Theory]
    // As Postfix: a refusal at connect or HELO answers MAIL (and every later command), never HELO or EHLO.
    [InlineData("connect=tempfail", "MAIL", 451, "4.7.1", "try again later")]
    [InlineData("helo=reject", "MAIL", 550, "5.7.1", "Command rejected")]
    [InlineData("mail=tempfail", "MAIL", 451, "4.7.1", "Service unavailable")]
    [InlineData("mail=reply:553 5.1.8 Sender domain unknown", "MAIL", 553, "5.1.8", "Sender domain unknown")]
    [InlineData("rcpt=reply:450 4.2.0 Greylisted, come back in 5 minutes", "RCPT", 450, "4.2.0", "Greylisted")]
    [InlineData("data=reject", "DATA", 550, "5.7.1", "Command rejected")]
    [InlineData("header=reject", "EOM", 550, "5.7.1", "Command rejected")]
    [InlineData("eoh=tempfail", "EOM", 451, "4.7.1", null)]
    [InlineData("body=reply:552 5.3.4 Too fat", "EOM", 552, "5.3.4", "Too fat")]
    [InlineData("eom=reject", "EOM", 550, "5.7.1", "Command rejected")]
    [InlineData("eom=tempfail", "EOM", 451, "4.7.1", "try again later")]
    [InlineData("eom=reply:554 5.7.0 Spam detected (score 12.5, 100%% sure)", "EOM", 554, "5.7.0", "Spam detected (score 12.5, 100% sure)")]
    public async Task Each_refusal_is_the_SMTP_reply_at_its_stage_and_nothing_is_delivered(string at, string step, int code, string enhanced, string? text)
    {
        var (milter, server) = await StartAsync(["--at", at]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await SmtpAssert.ConnectAsync(server);
        var (refusedAt, reply) = await RunSessionAsync(c);
        Assert.Equal(step, refusedAt);
        SmtpAssert.Reply(reply, code, enhanced, text);
        // The session goes on.
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        Assert.Equal(0, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task A_hard_refusal_at_connect_greets_with_554_and_refuses_MAIL_as_Postfix_does()
    {
        var (milter, server) = await StartAsync(["--at", "connect=reject"]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, textContains: "mta.test ESMTP not accepting connections");
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 550, "5.7.1", "Command rejected");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<b@remote.test>"), 550, "5.7.1", "Command rejected");
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        // Refused at connect, the milter got nothing after it (libmilter closed its side).
        Assert.Equal(["OPTNEG", "CONNECT"], milter.Received.Select(r => r.Command));
    }

    [Fact]
    public async Task A_multi_line_custom_reply_keeps_every_line()
    {
        var (milter, server) = await StartAsync(["--at", "eom=reply:550-5.7.1 Message refused\\r\\n550-5.7.1 see https://policy.test\\r\\n550 5.7.1 thank you"]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await SmtpAssert.ConnectAsync(server);
        var (step, reply) = await RunSessionAsync(c);
        Assert.Equal("EOM", step);
        SmtpAssert.Reply(reply, 550, "5.7.1");
        Assert.Equal(["5.7.1 Message refused", "5.7.1 see https://policy.test", "5.7.1 thank you"], reply.Lines);
    }

    [Theory]
    [InlineData("connect=shutdown")]
    [InlineData("mail=shutdown")]
    [InlineData("rcpt=connfail")]
    public async Task Shutdown_closes_the_session_with_421(string at)
    {
        var (milter, server) = await StartAsync(["--at", at]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        var first = await c.ReadReplyAsync();
        if (first.Code == 421)
        {
            // At connect the greeting itself, as Postfix words it.
            SmtpAssert.Reply(first, 421, textContains: "mta.test Service unavailable - try again later");
        }
        else
        {
            SmtpAssert.Reply(first, 220);
            SmtpAssert.Reply((await RunSessionAsync(c)).Reply, 421, "4.7.0", "Server closing connection");
        }
        Assert.True(await c.IsClosedByServerAsync(), "the session stayed open after a milter shutdown");
    }

    [Theory]
    [InlineData("mail=discard", "a@remote")]
    [InlineData("rcpt=discard", "bob@")]
    [InlineData("data=discard", "bob@")]
    [InlineData("eom=discard", "a@remote")]
    public async Task Discard_answers_250_and_delivers_nothing(string at, string only)
    {
        var (milter, server) = await StartAsync(["--at", at, "--only", only]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            var (step, reply) = await RunSessionAsync(c);
            Assert.Equal("done", step);
            SmtpAssert.Reply(reply, 250, "2.0.0", "queued as");
            // The next message of the session is not discarded.
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "c@remote.test", ["alice@example.test"], Message), 250);
        }
        Assert.Single(await server.WaitForMailAsync("alice"));
        // Alice's message leaves the queue once delivered; bob's never entered it.
        var queue = server.Services.GetRequiredService<IQueueAdministration>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (queue.List().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Empty(queue.List());
        Assert.False(Directory.Exists(server.MaildirNew("bob")) && Directory.GetFiles(server.MaildirNew("bob")).Length > 0, "a discarded message was delivered");
    }

    [Fact]
    public async Task Accept_at_rcpt_ends_the_milters_part_in_the_message_which_is_delivered()
    {
        var (milter, server) = await StartAsync(["--at", "rcpt=accept", "--at", "eom=reject"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            var (step, _) = await RunSessionAsync(c);
            Assert.Equal("done", step);
        }
        Assert.Single(await server.WaitForMailAsync("bob"));
        await milter.WaitForAsync("QUIT");
        Assert.DoesNotContain(milter.Received, r => r.Command is "DATA" or "HEADER" or "EOM");
    }

    [Fact]
    public async Task Accept_at_connect_ends_the_milters_part_in_the_session()
    {
        var (milter, server) = await StartAsync(["--at", "connect=accept", "--at", "mail=reject"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
            Assert.Equal("done", (await RunSessionAsync(c)).Step);
        Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Equal(["OPTNEG", "CONNECT"], milter.Received.Select(r => r.Command));
    }

    private static async Task<string> DeliverOneAsync(MtaTestServer server, string user = "bob", string[]? to = null, string from = "a@remote.test")
    {
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, to ?? ["bob@example.test"], Message), 250);
        }
        return SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync(user)));
    }

    private static string[] ClientHeaderLines(string delivered)
    {
        var head = delivered[..delivered.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var lines = head.Split("\r\n");
        // Below this server's trace fields (Received and its continuation lines): the client's header as changed.
        return lines.SkipWhile(l => !l.StartsWith("From:", StringComparison.Ordinal) && !l.StartsWith("X-Top", StringComparison.Ordinal)).ToArray();
    }

    [Fact]
    public async Task Header_insert_change_and_delete_reach_the_delivered_message()
    {
        var (milter, server) = await StartAsync(["--insert-header", "0:X-Top: inserted first", "--change-header", "1:Subject: [SPAM] hello",
            "--change-header", "1:To:", "--insert-header", "2:X-Third: after From", "--add-header", "X-Folded: one\\n\ttwo"]);
        await using var _ = milter;
        await using var __ = server;
        var delivered = await DeliverOneAsync(server);
        Assert.Equal(["X-Top: inserted first", "From: a@remote.test", "X-Third: after From", "Subject: [SPAM] hello", "X-Folded: one", "\ttwo"],
            ClientHeaderLines(delivered));
        Assert.EndsWith("\r\n\r\nbody line 1\r\nbody line 2\r\n", delivered);
    }

    [Fact]
    public async Task A_replaced_body_is_what_is_delivered_under_the_header()
    {
        var (milter, server) = await StartAsync(["--replace-body", "new body\\nsecond line", "--add-header", "X-Scanned: yes"]);
        await using var _ = milter;
        await using var __ = server;
        var delivered = await DeliverOneAsync(server);
        Assert.EndsWith("Subject: hello\r\nX-Scanned: yes\r\n\r\nnew body\r\nsecond line\r\n", delivered);
        Assert.DoesNotContain("body line 1", delivered);
    }

    [Fact]
    public async Task A_large_spilled_message_gets_its_body_replaced_and_headers_changed()
    {
        var (milter, server) = await StartAsync(["--replace-body", "short now", "--change-header", "1:Subject: big"],
            configure: o => o.Limits.Data.MemoryThreshold = 64 * 1024);
        await using var _ = milter;
        await using var __ = server;
        var big = "Subject: huge\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 400));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], big), 250);
        }
        var delivered = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob")));
        Assert.EndsWith("Subject: big\r\n\r\nshort now\r\n", delivered);
        // Seven chunks of at most 64 KiB carried the 400 000 octets.
        var bodies = milter.Received.Where(r => r.Command == "BODY").Select(r => int.Parse(r.Arguments[0])).ToArray();
        Assert.All(bodies, b => Assert.True(b <= 65535));
        Assert.Equal(400 * 1000, bodies.Sum());
    }

    [Fact]
    public async Task Recipients_added_and_deleted_and_the_sender_changed_are_the_envelope_delivered()
    {
        var (milter, server) = await StartAsync(["--add-rcpt", "<alice@example.test>", "--add-rcpt-par", "<carol@example.test> NOTIFY=NEVER",
            "--del-rcpt", "<bob@example.test>", "--change-from", "<bounces@example.test>"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message), 250);
        }
        foreach (var user in new[] { "alice", "carol" })
        {
            var delivered = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync(user)));
            Assert.StartsWith("Return-Path: <bounces@example.test>", delivered);
        }
        Assert.False(Directory.Exists(server.MaildirNew("bob")), "a deleted recipient got the message");
    }

    [Fact]
    public async Task Changes_a_milter_did_not_negotiate_are_ignored()
    {
        // Negotiates SMFIF_ADDHDRS only, then sends a recipient deletion too.
        var options = TestMilterOptions.Parse(["--add-header", "X-Ok: yes", "--del-rcpt", "<bob@example.test>"]);
        await using var strict = TestMilter.Start(options, negotiatedActions: Mta.Protocol.Milter.MilterActions.AddHeaders);
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Milters.Definitions["strict"] = new MilterDefinition { Address = strict.Address };
            o.Listeners[0].Milters = ["strict"];
        });
        var delivered = await DeliverOneAsync(server);
        Assert.Contains("X-Ok: yes", delivered);
    }

    [Fact]
    public async Task Macros_arrive_at_each_stage_as_Postfix_sends_them()
    {
        var (milter, server) = await StartAsync([]);
        await using var _ = milter;
        await using var __ = server;
        string queueId;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            queueId = SmtpAssert.QueueIdOf((await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message)).Text);
        }
        await milter.WaitForAsync("QUIT");
        var connect = Assert.Single(milter.Received, r => r.Command == "CONNECT");
        Assert.Equal(["[127.0.0.1]", "4", connect.Arguments[2], "127.0.0.1"], connect.Arguments);
        Assert.Equal(["j", "{daemon_name}", "{daemon_addr}", "v", "_"], connect.Macros.Keys);
        Assert.Equal("mta.test", connect.Macros["j"]);
        Assert.Equal("mta.test", connect.Macros["{daemon_name}"]);
        Assert.Equal("127.0.0.1", connect.Macros["{daemon_addr}"]);
        Assert.StartsWith("Mta ", connect.Macros["v"]);
        Assert.Equal("unknown [127.0.0.1]", connect.Macros["_"]);
        // No TLS: HELO's macros (tls_version, cipher, ...) have no value, so none is sent.
        Assert.Empty(Assert.Single(milter.Received, r => r.Command == "HELO").Macros);
        var mail = Assert.Single(milter.Received, r => r.Command == "MAIL");
        Assert.Equal(["<a@remote.test>"], mail.Arguments);
        Assert.Equal(new Dictionary<string, string> { ["i"] = queueId, ["{mail_addr}"] = "a@remote.test", ["{mail_host}"] = "remote.test", ["{mail_mailer}"] = "smtp" }, mail.Macros);
        var rcpt = Assert.Single(milter.Received, r => r.Command == "RCPT");
        Assert.Equal(new Dictionary<string, string> { ["i"] = queueId, ["{rcpt_addr}"] = "bob@example.test", ["{rcpt_host}"] = "example.test", ["{rcpt_mailer}"] = "local" }, rcpt.Macros);
        foreach (var stage in new[] { "DATA", "EOH", "EOM" })
            Assert.Equal(new Dictionary<string, string> { ["i"] = queueId }, Assert.Single(milter.Received, r => r.Command == stage).Macros);
    }

    [Fact]
    public async Task A_milter_chooses_its_macros_with_a_symbol_list()
    {
        var (milter, server) = await StartAsync(["--macros", "connect={client_addr} {client_port} {client_name} {client_ptr} {client_connections} {daemon_port}",
            "--macros", "mail={mail_addr} {auth_authen}", "--macros", "eom=i {rcpt_addr}"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "", ["bob@example.test"], Message), 250);
        }
        await milter.WaitForAsync("QUIT");
        var connect = Assert.Single(milter.Received, r => r.Command == "CONNECT");
        Assert.Equal("127.0.0.1", connect.Macros["{client_addr}"]);
        Assert.Equal(connect.Arguments[2], connect.Macros["{client_port}"]);
        Assert.Equal("unknown", connect.Macros["{client_name}"]);
        Assert.Equal("unknown", connect.Macros["{client_ptr}"]);
        Assert.Equal("1", connect.Macros["{client_connections}"]);
        Assert.Equal(server.Port.ToString(), connect.Macros["{daemon_port}"]);
        Assert.DoesNotContain("j", connect.Macros.Keys);
        // The null sender: {mail_addr} is empty; no AUTH, so no {auth_authen}.
        Assert.Equal(new Dictionary<string, string> { ["{mail_addr}"] = "" }, Assert.Single(milter.Received, r => r.Command == "MAIL").Macros);
        Assert.Equal(["i"], Assert.Single(milter.Received, r => r.Command == "EOM").Macros.Keys);
    }

    [Fact]
    public async Task Negotiated_protocol_steps_are_not_sent_and_no_reply_steps_are_not_awaited()
    {
        // The milter wants no HELO, headers or body, and will not answer RCPT (so its configured reject never goes out).
        var (milter, server) = await StartAsync(["--protocol", "NoHelo,NoHeaders,NoBody,NoReplyRcpt", "--at", "rcpt=reject"]);
        await using var _ = milter;
        await using var __ = server;
        Assert.Contains("body line 1", await DeliverOneAsync(server));
        await milter.WaitForAsync("QUIT");
        Assert.Equal(["OPTNEG", "CONNECT", "MAIL", "RCPT", "DATA", "EOH", "EOM", "ABORT", "QUIT"], milter.Received.Select(r => r.Command));
    }

    [Fact]
    public async Task Skip_after_the_first_body_chunk_sends_no_more_body()
    {
        var (milter, server) = await StartAsync(["--at", "body=skip"]);
        await using var _ = milter;
        await using var __ = server;
        var big = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('y', 98) + "\r\n", 2000));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], big), 250);
        }
        Assert.Single(await server.WaitForMailAsync("bob"));
        await milter.WaitForAsync("EOM");
        Assert.Equal("65535", Assert.Single(milter.Received, r => r.Command == "BODY").Arguments[0]);
    }

    [Fact]
    public async Task A_version_2_milter_gets_no_DATA_and_no_unknown_command()
    {
        var (milter, server) = await StartAsync(["--version", "2"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("XYZZY plugh"), 500);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message), 250);
        }
        await milter.WaitForAsync("QUIT");
        Assert.DoesNotContain(milter.Received, r => r.Command is "DATA" or "UNKNOWN");
        Assert.Contains(milter.Received, r => r.Command == "EOM");
    }

    [Fact]
    public async Task Unknown_commands_go_to_the_milter_whose_refusal_is_the_reply()
    {
        var (milter, server) = await StartAsync(["--at", "unknown=reply:502 5.5.2 Not with me you don't"]);
        await using var _ = milter;
        await using var __ = server;
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("XYZZY plugh"), 502, "5.5.2", "Not with me you don't");
        Assert.Equal(["XYZZY plugh"], Assert.Single(milter.Received, r => r.Command == "UNKNOWN").Arguments);
    }

    [Fact]
    public async Task One_milter_connection_serves_every_transaction_of_a_session_with_abort_between()
    {
        var (milter, server) = await StartAsync([]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], Message), 250);
        }
        await server.WaitForMailAsync("alice");
        await milter.WaitForAsync("QUIT");
        Assert.Equal(1, milter.Connections);
        var envelope = milter.Received.Where(r => r.Command is "MAIL" or "ABORT" or "EOM" or "QUIT").Select(r => r.Command);
        Assert.Equal(["MAIL", "ABORT", "MAIL", "EOM", "ABORT", "MAIL", "EOM", "ABORT", "QUIT"], envelope);
    }

    [Fact]
    public async Task A_milter_on_a_unix_socket_works_as_one_on_TCP()
    {
        var socket = Path.Combine(Path.GetTempPath(), "mta-milter-" + Guid.NewGuid().ToString("n")[..8] + ".sock");
        var (milter, server) = await StartAsync(["--listen", "unix:" + socket, "--add-header", "X-Via: unix"]);
        await using var _ = milter;
        await using var __ = server;
        Assert.Equal("unix:" + socket, milter.Address);
        Assert.Contains("X-Via: unix", await DeliverOneAsync(server));
    }

    [Fact]
    public async Task Two_milters_run_in_the_listed_order_and_the_first_refusal_wins()
    {
        await using var first = TestMilter.Start(TestMilterOptions.Parse(["--add-header", "X-First: 1", "--at", "rcpt=reject", "--only", "carol@"]));
        await using var second = TestMilter.Start(TestMilterOptions.Parse(["--add-header", "X-Second: 2"]));
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Milters.Definitions["first"] = new MilterDefinition { Address = first.Address };
            o.Milters.Definitions["second"] = new MilterDefinition { Address = second.Address };
            o.Listeners[0].Milters = ["first", "second"];
        });
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.7.1");
            SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, ["bob@example.test"], Message), 250);
        }
        var delivered = await server.WaitForMailAsync("bob");
        Assert.EndsWith("X-First: 1\r\nX-Second: 2", ClientHeaderLines(SmtpAssert.ReadText(Assert.Single(delivered))).Aggregate((a, b) => a + "\r\n" + b));
        await second.WaitForAsync("QUIT");
        // The second milter sees the message as the first left it (Postfix's milters read the edited queue file).
        Assert.Contains(second.Received, r => r.Command == "HEADER" && r.Arguments[0] == "X-First");
        Assert.DoesNotContain(first.Received, r => r.Command == "HEADER" && r.Arguments[0] == "X-Second");
        // The second milter never heard of carol: the first refused her.
        Assert.Equal(["<bob@example.test>"], Assert.Single(second.Received, r => r.Command == "RCPT").Arguments);
        Assert.Equal(2, first.Received.Count(r => r.Command == "RCPT"));
    }

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static async Task<MtaTestServer> StartWithMilterAtAsync(string address, MilterDefaultAction action, MilterLog? log = null,
        Action<MilterDefinition>? definition = null)
    {
        return await MtaTestServer.StartAsync(o =>
        {
            var d = new MilterDefinition { Address = address, DefaultAction = action, ConnectTimeout = TimeSpan.FromSeconds(2) };
            definition?.Invoke(d);
            o.Milters.Definitions["test"] = d;
            o.Listeners[0].Milters = ["test"];
        }, services: log is null ? null : s => s.AddLogging(b => b.AddProvider(log).AddFilter<MilterLog>(null, LogLevel.Information)));
    }

    [Theory]
    [InlineData(MilterDefaultAction.Tempfail, 451, "4.7.1")]
    [InlineData(MilterDefaultAction.Reject, 550, "5.5.0")]
    public async Task A_milter_that_is_down_gives_its_default_action_and_the_session_goes_on(MilterDefaultAction action, int code, string enhanced)
    {
        var log = new MilterLog();
        await using var server = await StartWithMilterAtAsync($"inet:127.0.0.1:{ClosedPort()}", action, log);
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        // As Postfix: the default action is the milter's answer from connect on, and a hard one greets with 554.
        SmtpAssert.Reply(await c.ReadReplyAsync(), action == MilterDefaultAction.Reject ? 554 : 220);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), code, enhanced, "Service unavailable");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        var line = Assert.Single(log.Lines, l => l.EventId == 1781);
        Assert.Contains("milter=test", line.Message);
        Assert.Contains("default action " + action, line.Message);
    }

    [Fact]
    public async Task A_milter_that_is_down_with_default_action_Accept_is_left_out_and_mail_flows()
    {
        await using var server = await StartWithMilterAtAsync($"inet:127.0.0.1:{ClosedPort()}", MilterDefaultAction.Accept);
        Assert.Contains("body line 1", await DeliverOneAsync(server));
    }

    [Theory]
    [InlineData(MilterDefaultAction.Tempfail)]
    [InlineData(MilterDefaultAction.Accept)]
    public async Task A_hanging_milter_overruns_its_command_timeout_and_gets_its_default_action(MilterDefaultAction action)
    {
        await using var milter = TestMilter.Start(TestMilterOptions.Parse(["--at", "mail=sleep:10000"]));
        var log = new MilterLog();
        await using var server = await StartWithMilterAtAsync(milter.Address, action, log, d => d.CommandTimeout = TimeSpan.FromMilliseconds(300));
        using var metrics = new MetricRecorder(server.Services);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var mail = await c.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"MAIL took {watch.Elapsed}");
        if (action == MilterDefaultAction.Tempfail)
        {
            SmtpAssert.Reply(mail, 451, "4.7.1");
            // Every later command the milter would see gets the same answer; the session itself goes on.
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 451, "4.7.1");
        }
        else
        {
            SmtpAssert.Reply(mail, 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, ["bob@example.test"], Message), 250);
            Assert.Single(await server.WaitForMailAsync("bob"));
        }
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        Assert.Contains("milter=test", Assert.Single(log.Lines, l => l.EventId == 1782).Message);
        Assert.NotEmpty(metrics.Of("mta.hooks.failures", ("handler", "test"), ("hook", "MailContext")));
    }

    [Fact]
    public async Task A_slow_end_of_message_overruns_its_timeout_but_progress_replies_keep_it_alive()
    {
        await using var slow = TestMilter.Start(TestMilterOptions.Parse(["--at", "eom=sleep:5000"]));
        await using (var server = await StartWithMilterAtAsync(slow.Address, MilterDefaultAction.Tempfail, definition: d => d.EndOfMessageTimeout = TimeSpan.FromMilliseconds(400)))
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            var (step, reply) = await RunSessionAsync(c);
            Assert.Equal("EOM", step);
            SmtpAssert.Reply(reply, 451, "4.7.1");
        }
        await using var busy = TestMilter.Start(TestMilterOptions.Parse(["--at", "eom=progress:1200"]));
        await using (var server = await StartWithMilterAtAsync(busy.Address, MilterDefaultAction.Tempfail, definition: d => d.EndOfMessageTimeout = TimeSpan.FromMilliseconds(400)))
        {
            Assert.Contains("body line 1", await DeliverOneAsync(server));
        }
    }

    [Fact]
    public async Task A_milter_that_breaks_the_protocol_gets_its_default_action()
    {
        // Answers the negotiation with a reply code that does not exist there.
        using var broken = new TcpListener(IPAddress.Loopback, 0);
        broken.Start();
        var serving = Task.Run(async () =>
        {
            using var peer = await broken.AcceptSocketAsync();
            var buffer = new byte[64];
            await peer.ReceiveAsync(buffer);
            await peer.SendAsync(new byte[] { 0, 0, 0, 1, (byte)'Z' });
            await peer.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        });
        var log = new MilterLog();
        await using var server = await StartWithMilterAtAsync($"inet:127.0.0.1:{((IPEndPoint)broken.LocalEndpoint).Port}", MilterDefaultAction.Tempfail, log);
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 451, "4.7.1");
        Assert.Contains("broke the protocol", Assert.Single(log.Lines, l => l.EventId == 1783).Message);
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Decisions_are_logged_with_the_milter_and_queue_id_and_measured_as_hook_calls()
    {
        await using var milter = TestMilter.Start(TestMilterOptions.Parse(["--at", "eom=reject"]));
        var log = new MilterLog();
        await using var server = await StartWithMilterAtAsync(milter.Address, MilterDefaultAction.Tempfail, log);
        using var metrics = new MetricRecorder(server.Services);
        await using (var c = await SmtpAssert.ConnectAsync(server))
            SmtpAssert.Reply((await RunSessionAsync(c)).Reply, 550);
        var mail = await milter.WaitForAsync("MAIL");
        var queueId = mail[0].Macros["i"];
        var decided = Assert.Single(log.Lines, l => l.EventId == 1780);
        Assert.Equal("test", decided.Fields["Milter"]);
        Assert.Equal(queueId, decided.Fields["QueueId"]);
        Assert.Contains("550 5.7.1 Command rejected", decided.Message);
        foreach (var hook in new[] { "ConnectContext", "HeloContext", "MailContext", "RcptContext", "DataContext", "DataPostContext" })
            Assert.NotEmpty(metrics.Of("mta.hooks.duration", ("handler", "test"), ("hook", hook)));
    }

    [Fact]
    public async Task Quarantine_queues_the_message_on_hold_which_survives_a_restart_until_released()
    {
        await using var milter = TestMilter.Start(TestMilterOptions.Parse(["--quarantine", "suspicious attachment"]));
        var root = Path.Combine(Path.GetTempPath(), "mta-e2e-" + Guid.NewGuid().ToString("n")[..12]);
        void Configure(MtaOptions o)
        {
            o.Milters.Definitions["test"] = new MilterDefinition { Address = milter.Address };
            o.Listeners[0].Milters = ["test"];
        }
        string queueId;
        try
        {
            await using (var server = await MtaTestServer.StartAsync(Configure, dataDirectory: root, keepDataDirectory: true))
            {
                await using (var c = await SmtpAssert.ConnectAsync(server))
                {
                    await SmtpAssert.EhloAsync(c);
                    queueId = SmtpAssert.QueueIdOf((await SmtpAssert.TransactionAsync(c, "a@remote.test", ["bob@example.test"], Message)).Text);
                }
                var held = await WaitForEntryAsync(server, queueId);
                Assert.Equal(QueueRecipientState.Held, Assert.Single(held.Recipients).State);
            }
            await using (var server = await MtaTestServer.StartAsync(Configure, dataDirectory: root, keepDataDirectory: true))
            {
                var queue = server.Services.GetRequiredService<IQueueAdministration>();
                Assert.Equal(QueueRecipientState.Held, Assert.Single((await WaitForEntryAsync(server, queueId)).Recipients).State);
                Assert.False(Directory.Exists(server.MaildirNew("bob")), "a quarantined message was delivered");
                Assert.Equal(1, await queue.ReleaseAsync(queueId, TestContext.Current.CancellationToken));
                Assert.Contains("body line 1", SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob"))));
            }
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

    private static async Task<QueueEntrySnapshot> WaitForEntryAsync(MtaTestServer server, string queueId)
    {
        var queue = server.Services.GetRequiredService<IQueueAdministration>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            if (queue.Find(queueId) is { } entry) return entry;
            if (DateTime.UtcNow > deadline) throw new TimeoutException(queueId + " never showed in the queue");
            await Task.Delay(20);
        }
    }

    /// <summary>The engine's log lines with their fields.</summary>
    internal sealed class MilterLog : ILoggerProvider
    {
        public sealed record Line(int EventId, string Message, IReadOnlyDictionary<string, object?> Fields);

        private readonly ConcurrentQueue<Line> _lines = new();

        public IReadOnlyList<Line> Lines => [.. _lines];

        public ILogger CreateLogger(string categoryName) => new Logger(_lines);

        public void Dispose() { }

        private sealed class Logger(ConcurrentQueue<Line> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var fields = state is IReadOnlyList<KeyValuePair<string, object?>> list ? list.ToDictionary(p => p.Key, p => p.Value) : [];
                lines.Enqueue(new Line(eventId.Id, formatter(state, exception), fields));
            }
        }
    }

    [Fact]
    public async Task Check_names_every_milter_configuration_error_with_its_key()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-config-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(root);
        try
        {
            var config = Path.Combine(root, "mta.config.json");
            // Keys and values the binder cannot take are named first...
            File.WriteAllText(config, """
                {
                  "DataDirectory": "data",
                  "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 0, "Milters": [ "rspamd" ] } ],
                  "Milters": { "Definitions": { "rspamd": { "Address": "inet:127.0.0.1:11332", "DefaultAction": "Quarantine", "Timeout": "00:00:01" } } }
                }
                """);
            var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
            Assert.True(code == 2, output);
            Assert.Contains("Milters:Definitions:rspamd:Timeout: unknown key", output);
            Assert.Contains("Milters:Definitions:rspamd:DefaultAction: 'Quarantine' is not one of Accept, Tempfail, Reject", output);

            // ...then every value the validator refuses.
            File.WriteAllText(config, """
                {
                  "DataDirectory": "data",
                  "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 0, "Milters": [ "opendkim", "rspamd", "clamav" ] } ],
                  "Milters": {
                    "Definitions": {
                      "opendkim": { "Address": "unix:run/opendkim.sock", "Protocol": 5 },
                      "rspamd": { "Address": "inet:127.0.0.1", "CommandTimeout": "00:00:00" }
                    }
                  }
                }
                """);
            (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
            Assert.True(code == 2, output);
            Assert.Contains("Listeners:0:Milters:2: 'clamav' is not defined under Milters:Definitions", output);
            Assert.Contains("Milters:Definitions:opendkim:Address: 'unix:run/opendkim.sock': the socket path must be absolute", output);
            Assert.Contains("Milters:Definitions:opendkim:Protocol: 5 is not a milter protocol version (2, 3, 4 or 6)", output);
            Assert.Contains("Milters:Definitions:rspamd:Address: 'inet:127.0.0.1' has no valid port", output);
            Assert.Contains("Milters:Definitions:rspamd:CommandTimeout: must be more than zero and at most 1 hour", output);

            // The shape of the brief, corrected, passes.
            File.WriteAllText(config, """
                {
                  "DataDirectory": "data",
                  "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 0, "Milters": [ "opendkim", "rspamd" ] } ],
                  "Milters": {
                    "Definitions": {
                      "opendkim": { "Address": "unix:/run/opendkim/opendkim.sock", "DefaultAction": "Accept", "ConnectTimeout": "00:00:05",
                                    "CommandTimeout": "00:00:10", "EndOfMessageTimeout": "00:00:30", "Protocol": 6 },
                      "rspamd": { "Address": "inet:127.0.0.1:11332", "DefaultAction": "Tempfail" }
                    }
                  }
                }
                """);
            (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
            Assert.True(code == 0, output);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

    [Fact]
    public async Task TLS_and_AUTH_macros_arrive_after_STARTTLS_and_AUTH()
    {
        var (milter, server) = await StartAsync([], configure: o =>
        {
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            o.Auth.HashIterations = 100_000;
        });
        await using var _ = milter;
        await using var __ = server;
        server.Services.GetRequiredService<Mta.Engine.Auth.UserStore>().Add("alice", "correct horse", []);
        using (var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.StartTls);
            await client.AuthenticateAsync("alice", "correct horse");
            await client.SendAsync(MimeKit.MimeMessage.Load(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(
                "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: tls\r\n\r\nhi\r\n"))));
            await client.DisconnectAsync(true);
        }
        await milter.WaitForAsync("QUIT");
        var helos = milter.Received.Where(r => r.Command == "HELO").ToArray();
        Assert.Equal(2, helos.Length);
        Assert.Empty(helos[0].Macros);
        Assert.Matches("^TLSv1\\.[23]$", helos[1].Macros["{tls_version}"]);
        Assert.NotEmpty(helos[1].Macros["{cipher}"]);
        Assert.Contains(helos[1].Macros["{cipher_bits}"], new[] { "128", "256" });
        var mail = Assert.Single(milter.Received, r => r.Command == "MAIL");
        Assert.Equal("alice", mail.Macros["{auth_authen}"]);
        Assert.Equal("PLAIN", mail.Macros["{auth_type}"]);
    }

    [Fact]
    public async Task A_milter_that_asks_for_refused_recipients_sees_them_with_the_refusal()
    {
        var (milter, server) = await StartAsync(["--protocol", "RejectedRecipients", "--macros", "rcpt={rcpt_mailer} {rcpt_host} {rcpt_addr}"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@elsewhere.test>"), 554, "5.7.1", "Relay access denied");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        }
        var rcpts = await milter.WaitForAsync("RCPT", 2);
        Assert.Equal(new Dictionary<string, string> { ["{rcpt_mailer}"] = "error", ["{rcpt_host}"] = "5.7.1", ["{rcpt_addr}"] = "<x@elsewhere.test>: Relay access denied" }, rcpts[0].Macros);
        Assert.Equal("local", rcpts[1].Macros["{rcpt_mailer}"]);
    }

    [Fact]
    public async Task BDAT_messages_go_through_the_milters_like_DATA()
    {
        var (milter, server) = await StartAsync(["--add-header", "X-Chunked: yes"]);
        await using var _ = milter;
        await using var __ = server;
        var message = System.Text.Encoding.ASCII.GetBytes(Message);
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
            await c.SendAsync([.. System.Text.Encoding.ASCII.GetBytes($"BDAT {message.Length} LAST\r\n"), .. message]);
            SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        }
        Assert.Contains("X-Chunked: yes", SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob"))));
        Assert.Contains(milter.Received, r => r.Command == "DATA");
    }

    [Fact]
    public async Task After_XCLIENT_the_milters_see_a_new_connect_for_the_client_it_names()
    {
        var (milter, server) = await StartAsync([], configure: o => o.XClient.Networks = ["127.0.0.1/32"]);
        await using var _ = milter;
        await using var __ = server;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("XCLIENT ADDR=192.0.2.7 NAME=client.example.test"), 220);
            await SmtpAssert.EhloAsync(c);
        }
        await milter.WaitForAsync("QUIT", 2);
        var connects = milter.Received.Where(r => r.Command == "CONNECT").ToArray();
        Assert.Equal(2, connects.Length);
        Assert.Equal("client.example.test", connects[1].Arguments[0]);
        Assert.Equal("192.0.2.7", connects[1].Arguments[3]);
        Assert.Equal("client.example.test [192.0.2.7]", connects[1].Macros["_"]);
        Assert.Equal(2, milter.Connections);
    }

    [Fact]
    public async Task Headers_a_milter_will_not_answer_go_out_together_and_the_message_is_delivered()
    {
        var (milter, server) = await StartAsync(["--protocol", "NoReplyHeader,NoReplyEndOfHeaders,NoReplyBody,NoReplyData", "--add-header", "X-After: all"]);
        await using var _ = milter;
        await using var __ = server;
        Assert.Contains("X-After: all", await DeliverOneAsync(server));
        await milter.WaitForAsync("QUIT");
        Assert.Equal(3, milter.Received.Count(r => r.Command == "HEADER"));
        Assert.Contains(milter.Received, r => r.Command == "BODY");
    }
}
