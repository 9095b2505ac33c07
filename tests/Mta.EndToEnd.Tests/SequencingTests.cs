// Command order (RFC 5321 4.1.4, 4.3.2) where the message must reach a Maildir; the rest run in memory (Mta.Engine.Tests, SessionSequencingTests).
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class SequencingTests
{
    [Fact]
    public async Task Nested_MAIL_is_refused_and_RSET_allows_a_new_one()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<b@remote.test>"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250, "2.0.0");
        // RSET cleared the transaction: RCPT now needs a MAIL first.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<b@remote.test>"), 250);
        var reply = await SmtpAssert.TransactionAsyncAfterMail(c, ["alice@example.test"], "Subject: after-rset\r\n\r\nbody\r\n");
        SmtpAssert.Reply(reply, 250, "2.0.0");
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Contains("Return-Path: <b@remote.test>", SmtpAssert.ReadText(file));
    }

    [Fact]
    public async Task HELO_session_refuses_ESMTP_parameters_but_takes_plain_MAIL()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("HELO client.test"), 250);
        // RFC 5321 4.1.1.11 / RFC 1869: parameters need EHLO; 555 for MAIL/RCPT parameters not recognised.
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=100"), 555, "5.5.4");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test> BODY=8BITMIME"), 555, "5.5.4");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test> NOTIFY=NEVER"), 555, "5.5.4");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: helo-only\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Contains("with SMTP id", SmtpAssert.ReadText(file));
    }
}
