// PIPELINING (RFC 2920): commands sent in one write get their replies in order, each exactly once. (Socket-free cases: SessionPipeliningTests.)
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class PipeliningTests
{
    [Fact]
    public async Task Whole_transaction_in_two_writes_gets_every_reply_in_order()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await c.SendAsync("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
        var ehlo = SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        Assert.Contains("PIPELINING", ehlo.Lines);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.1.5");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.1.5");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 354);
        await c.SendAsync("Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 221, "2.0.0");
        Assert.True(await c.IsClosedByServerAsync());
        foreach (var user in new[] { "alice", "bob" })
            Assert.Contains("Subject: pipelined", SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync(user))));
    }

    [Fact]
    public async Task Rejected_RCPT_in_the_middle_of_a_group_only_affects_itself()
    {
        await using var server = await MtaTestServer.StartAsync(o => { o.Mailboxes.Users = ["alice", "carol"]; o.Mailboxes.AcceptAnyLocalPart = false; });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        await c.SendAsync(
            "MAIL FROM:<a@x.test>\r\n" +
            "RCPT TO:<alice@example.test>\r\n" +
            "RCPT TO:<nobody@example.test>\r\n" +
            "RCPT TO:<someone@elsewhere.test>\r\n" +
            "RCPT TO:<carol@example.test>\r\n" +
            "DATA\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.1.5");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 550, "5.1.1");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.7.1");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.1.5");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 354);
        await c.SendAsync("Subject: partial\r\n\r\nbody\r\n.\r\nNOOP\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Single(await server.WaitForMailAsync("carol"));
        Assert.Equal(2, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Many_transactions_pipelined_back_to_back()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        const int n = 10;
        for (var i = 0; i < n; i++)
        {
            await c.SendAsync($"MAIL FROM:<a@x.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
            SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
            SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
            SmtpAssert.Reply(await c.ReadReplyAsync(), 354);
            await c.SendAsync($"Subject: n{i}\r\n\r\nbody {i}\r\n.\r\nRSET\r\n");
            SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
            SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        }
        var files = await server.WaitForMailAsync("alice", n);
        Assert.Equal(n, files.Length);
        var subjects = files.Select(f => SmtpAssert.ReadText(f).Split("\r\n").First(l => l.StartsWith("Subject: "))).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, n).Select(i => $"Subject: n{i}").Order().ToArray(), subjects);
    }
}
