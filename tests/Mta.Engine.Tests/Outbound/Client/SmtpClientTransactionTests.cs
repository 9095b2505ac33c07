// SMTP client transactions against the scriptable test server over real sockets: pipelining, replies, DATA, reuse.
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Outbound;
using Mta.Protocol;
using Mta.Testing;
using static Mta.Engine.Tests.Outbound.Client.ClientHarness;

namespace Mta.Engine.Tests.Outbound.Client;

public sealed class SmtpClientTransactionTests
{
    private static readonly List<string> NoPipelining = ["SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"];

    private static TestSmtpServerOptions Options(bool pipelining) =>
        pipelining ? new TestSmtpServerOptions() : new TestSmtpServerOptions { Extensions = [.. NoPipelining] };

    [Fact]
    public async Task Delivers_with_pipelining_sending_mail_rcpt_and_data_in_one_group()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message();
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            Assert.True(client.Capabilities.Pipelining);
            var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);

            Assert.All(result.Recipients, r => Assert.Equal(RecipientStatus.Delivered, r.Status));
            Assert.StartsWith("test.local[127.0.0.1] said: 250 2.0.0 Ok: queued as ", result.Recipients[0].Detail);
            Assert.Equal(250, result.Recipients[0].Reply!.Code);
            Assert.True(result.DsnPassedOn);
            Assert.Equal(1, client.TransactionCount);
            Assert.True(client.IsUsable);
        }

        var received = Assert.Single(server.Received);
        Assert.Equal("client.test", received.HeloName);
        Assert.Equal("sender@example.org", received.MailFrom);
        Assert.Equal(["a@example.net", "b@example.net"], received.Recipients);
        Assert.Equal(message.Bytes, received.Data);
        Assert.False(received.Tls);

        var group = Assert.Single(server.CommandBatches, b => b[0].StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Equal(["MAIL FROM:<sender@example.org> SIZE=" + message.Size, "RCPT TO:<a@example.net>", "RCPT TO:<b@example.net>", "DATA"], group);
        Assert.Equal("QUIT", server.Commands[^1]);
    }

    [Fact]
    public async Task Without_pipelining_each_command_waits_for_its_reply()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options(pipelining: false));
        var message = Message();
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            Assert.False(client.Capabilities.Pipelining);
            var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);
            Assert.All(result.Recipients, r => Assert.Equal(RecipientStatus.Delivered, r.Status));
        }
        Assert.All(server.CommandBatches, b => Assert.Single(b));
        Assert.Equal(["EHLO client.test", "MAIL FROM:<sender@example.org> SIZE=" + message.Size, "RCPT TO:<a@example.net>",
            "RCPT TO:<b@example.net>", "DATA", "QUIT"], server.Commands);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Each_recipient_gets_its_own_rcpt_reply(bool pipelining)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.RcptReply = a => a switch
        {
            "bad@example.net" => "550 5.1.1 <bad@example.net>: Recipient address rejected: no such user",
            "later@example.net" => "451 4.3.0 <later@example.net>: try again later",
            _ => null,
        };
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "ok@example.net", "bad@example.net", "later@example.net"), message, cts.Token);

        Assert.Equal([RecipientStatus.Delivered, RecipientStatus.Failed, RecipientStatus.Deferred], result.Recipients.Select(r => r.Status));
        Assert.Equal("host test.local[127.0.0.1] said: 550 5.1.1 <bad@example.net>: Recipient address rejected: no such user (in reply to RCPT TO command)",
            result.Recipients[1].Detail);
        Assert.Equal("5.1.1", result.Recipients[1].Reply!.EnhancedCode);
        Assert.Equal(451, result.Recipients[2].Reply!.Code);
        Assert.Equal(["ok@example.net"], Assert.Single(server.Received).Recipients);
        Assert.True(client.IsUsable);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task No_recipient_accepted_resets_and_keeps_the_connection(bool pipelining)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.RcptReply = a => a.StartsWith("bad", StringComparison.Ordinal) ? "550 5.1.1 no such user" : null;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);

        var first = await client.SendAsync(Envelope(message, "bad1@example.net", "bad2@example.net"), message, cts.Token);
        Assert.All(first.Recipients, r => Assert.Equal(RecipientStatus.Failed, r.Status));
        Assert.All(first.Recipients, r => Assert.EndsWith("(in reply to RCPT TO command)", r.Detail));
        Assert.True(client.IsUsable);
        Assert.Contains("RSET", server.Commands);
        if (!pipelining) Assert.DoesNotContain("DATA", server.Commands);

        var second = await client.SendAsync(Envelope(message, "good@example.net"), message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(second.Recipients).Status);
        Assert.Equal(2, client.TransactionCount);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Theory]
    [InlineData(true, "451 4.3.0 try later", RecipientStatus.Deferred)]
    [InlineData(true, "553 5.7.1 sender rejected", RecipientStatus.Failed)]
    [InlineData(false, "451 4.3.0 try later", RecipientStatus.Deferred)]
    [InlineData(false, "553 5.7.1 sender rejected", RecipientStatus.Failed)]
    public async Task Mail_refusal_decides_every_recipient(bool pipelining, string reply, RecipientStatus expected)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.MailReply = _ => reply;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);

        Assert.All(result.Recipients, r => Assert.Equal(expected, r.Status));
        Assert.All(result.Recipients, r => Assert.Equal($"host test.local[127.0.0.1] said: {reply} (in reply to MAIL FROM command)", r.Detail));
        Assert.True(client.IsUsable);
        Assert.Empty(server.Received);
        if (!pipelining) Assert.DoesNotContain(server.Commands, c => c.StartsWith("RCPT", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, "554 5.7.1 no thanks", RecipientStatus.Failed)]
    [InlineData(false, "554 5.7.1 no thanks", RecipientStatus.Failed)]
    [InlineData(true, "451 4.3.0 not now", RecipientStatus.Deferred)]
    public async Task Data_refusal_decides_the_accepted_recipients(bool pipelining, string reply, RecipientStatus expected)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.DataReply = () => reply;
        options.RcptReply = a => a.StartsWith("bad", StringComparison.Ordinal) ? "550 5.1.1 no such user" : null;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net", "bad@example.net"), message, cts.Token);

        Assert.Equal(expected, result.Recipients[0].Status);
        Assert.EndsWith("(in reply to DATA command)", result.Recipients[0].Detail);
        Assert.EndsWith("(in reply to RCPT TO command)", result.Recipients[1].Detail);
        Assert.True(client.IsUsable);
        Assert.Equal("RSET", server.Commands[^1]);
    }

    [Theory]
    [InlineData("452 4.3.1 Insufficient system storage", RecipientStatus.Deferred)]
    [InlineData("554 5.6.0 Message content rejected", RecipientStatus.Failed)]
    public async Task Final_reply_decides_the_accepted_recipients(string reply, RecipientStatus expected)
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { FinalReply = _ => reply });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);

        Assert.All(result.Recipients, r => Assert.Equal(expected, r.Status));
        Assert.All(result.Recipients, r => Assert.Equal($"host test.local[127.0.0.1] said: {reply} (in reply to end of DATA command)", r.Detail));
        Assert.True(client.IsUsable);
        Assert.DoesNotContain("RSET", server.Commands);
    }

    [Fact]
    public async Task A_421_defers_what_is_open_and_ends_the_connection()
    {
        using var cts = Bound();
        var options = new TestSmtpServerOptions
        {
            RcptReply = a => a switch
            {
                "bad@example.net" => "550 5.1.1 no such user",
                "second@example.net" => "421 4.3.2 Service shutting down",
                _ => null,
            },
        };
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "first@example.net", "bad@example.net", "second@example.net", "third@example.net"),
            message, cts.Token);

        Assert.Equal([RecipientStatus.Deferred, RecipientStatus.Failed, RecipientStatus.Deferred, RecipientStatus.Deferred],
            result.Recipients.Select(r => r.Status));
        Assert.Equal(421, result.Recipients[0].Reply!.Code);
        Assert.Equal(421, result.Recipients[3].Reply!.Code);
        Assert.False(client.IsUsable);
        Assert.False(await client.ResetAsync(cts.Token));
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Message_over_the_size_limit_fails_without_a_command()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "SIZE 1000"] });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = Envelope(message, "a@example.net", "b@example.net") with { Size = 5000 };
        var result = await client.SendAsync(envelope, message, cts.Token);

        Assert.All(result.Recipients, r =>
        {
            Assert.Equal(RecipientStatus.Failed, r.Status);
            Assert.Null(r.Reply);
            Assert.Equal("5.3.4 message size 5000 exceeds the fixed limit 1000 of test.local[127.0.0.1]", r.Detail);
        });
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Equal(0, client.TransactionCount);
        Assert.True(client.IsUsable);
    }

    [Fact]
    public async Task Size_without_a_limit_sends_any_size()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["SIZE"] });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net") with { Size = long.MaxValue / 2 }, message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        Assert.EndsWith($"SIZE={long.MaxValue / 2}", Assert.Single(server.Received).MailLine);
    }

    [Fact]
    public async Task Eight_bit_body_fails_when_8bitmime_is_not_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "SMTPUTF8"] });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net") with { Body = BodyType.EightBitMime }, message, cts.Token);
        var r = Assert.Single(result.Recipients);
        Assert.Equal(RecipientStatus.Failed, r.Status);
        Assert.Equal("5.6.3 message requires 8BITMIME, which test.local[127.0.0.1] does not offer", r.Detail);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Utf8_envelope_fails_when_smtputf8_is_not_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "8BITMIME"] });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "jörg@example.net") with { RequiresSmtpUtf8 = true }, message, cts.Token);
        var r = Assert.Single(result.Recipients);
        Assert.Equal(RecipientStatus.Failed, r.Status);
        Assert.StartsWith("5.6.7 message requires SMTPUTF8", r.Detail);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mail_parameters_when_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message("Subject: b\u00fccher\r\n\r\n\u00e4\r\n");
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = Envelope(message, "jörg@example.net") with { Body = BodyType.EightBitMime, RequiresSmtpUtf8 = true };
        var result = await client.SendAsync(envelope, message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        var received = Assert.Single(server.Received);
        Assert.Equal($"MAIL FROM:<sender@example.org> SIZE={message.Size} BODY=8BITMIME SMTPUTF8", received.MailLine);
        Assert.Equal(["jörg@example.net"], received.Recipients);
        Assert.Equal(message.Bytes, received.Data);
    }

    [Fact]
    public async Task Dsn_parameters_are_passed_on_when_dsn_is_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = new OutboundEnvelope(Address("sender@example.org"),
            [new OutboundRecipient(Address("a@example.net"), DsnNotify.Success | DsnNotify.Failure, "rfc822;Alias+x@example.org")],
            message.Size, Ret: DsnReturn.Headers, EnvelopeId: "QID=42");
        var result = await client.SendAsync(envelope, message, cts.Token);

        Assert.True(result.DsnPassedOn);
        var received = Assert.Single(server.Received);
        Assert.Equal($"MAIL FROM:<sender@example.org> SIZE={message.Size} RET=HDRS ENVID=QID+3D42", received.MailLine);
        Assert.Equal("RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alias+2Bx@example.org", Assert.Single(received.RcptLines));
    }

    [Fact]
    public async Task Dsn_parameters_are_left_out_when_dsn_is_not_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "8BITMIME"] });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = new OutboundEnvelope(Address("sender@example.org"),
            [new OutboundRecipient(Address("a@example.net"), DsnNotify.Never, "rfc822;a@example.net")],
            message.Size, Ret: DsnReturn.Full, EnvelopeId: "QID");
        var result = await client.SendAsync(envelope, message, cts.Token);

        Assert.False(result.DsnPassedOn);
        var received = Assert.Single(server.Received);
        Assert.Equal("MAIL FROM:<sender@example.org>", received.MailLine);
        Assert.Equal("RCPT TO:<a@example.net>", Assert.Single(received.RcptLines));
    }

    [Fact]
    public async Task Null_reverse_path()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = Envelope(message, "a@example.net") with { ReversePath = SmtpAddress.Null };
        await client.SendAsync(envelope, message, cts.Token);
        var received = Assert.Single(server.Received);
        Assert.Equal("", received.MailFrom);
        Assert.StartsWith("MAIL FROM:<> ", received.MailLine);
    }

    [Theory]
    [InlineData("Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n", "Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n")]
    [InlineData("Subject: x\r\n\r\nno final line break", "Subject: x\r\n\r\nno final line break\r\n")]
    [InlineData(".\r\n", ".\r\n")]
    [InlineData("Subject: x\r\n\r\nends in CR\r", "Subject: x\r\n\r\nends in CR\r\n")]
    public async Task Dot_stuffing_and_final_line_break(string text, string expected)
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message(text);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        Assert.Equal(expected, Assert.Single(server.Received).DataText);
    }

    [Fact]
    public async Task Large_message_with_dots_on_chunk_boundaries_arrives_intact()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        // Lines of varying length so that line starts (and their dots) fall on and around the 64 KiB chunk edges.
        var sb = new StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; sb.Length < 600_000; i++)
            sb.Append('.').Append('x', i % 97).Append("\r\n");
        var message = Message(sb.ToString());
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        Assert.Equal(message.Bytes, Assert.Single(server.Received).Data);
    }

    [Fact]
    public async Task Connection_is_reused_for_several_transactions()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var first = Message("Subject: one\r\n\r\n1\r\n");
        var second = Message("Subject: two\r\n\r\n2\r\n");
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            await client.SendAsync(Envelope(first, "a@example.net"), first, cts.Token);
            Assert.True(await client.ResetAsync(cts.Token));
            await client.SendAsync(Envelope(second, "b@example.net"), second, cts.Token);
            Assert.Equal(2, client.TransactionCount);
            Assert.True(client.IsUsable);
        }
        Assert.Equal(1, server.ConnectionCount);
        Assert.Equal([first.Bytes, second.Bytes], server.Received.Select(r => r.Data));
        Assert.Equal(["b@example.net"], server.Received[1].Recipients);
    }

    [Fact]
    public async Task Content_read_error_abandons_the_connection_without_the_final_dot()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = new FailingMessage(200_000);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = new OutboundEnvelope(Address("sender@example.org"), [new OutboundRecipient(Address("a@example.net"))], message.Size);
        await Assert.ThrowsAsync<IOException>(() => client.SendAsync(envelope, message, cts.Token));
        Assert.False(client.IsUsable);
        await client.DisposeAsync();
        // Give the server a moment to see the close; nothing may have been accepted.
        await Task.Delay(200, cts.Token);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Concurrent_connections_to_one_server()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var tasks = Enumerable.Range(0, 8).Select(async i =>
        {
            var message = Message($"Subject: {i}\r\n\r\n{i}\r\n");
            await using var client = await OpenAsync(server, null, null, cts.Token);
            return await client.SendAsync(Envelope(message, $"r{i}@example.net"), message, cts.Token);
        });
        var results = await Task.WhenAll(tasks);
        Assert.All(results, r => Assert.Equal(RecipientStatus.Delivered, r.Recipients[0].Status));
        await server.WaitForTransactionsAsync(8, TimeSpan.FromSeconds(5));
        Assert.Equal(8, server.ConnectionCount);
        Assert.Empty(server.SessionErrors);
    }
}
