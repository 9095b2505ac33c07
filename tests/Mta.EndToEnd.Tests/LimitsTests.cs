// RFC 5321 4.5.3 size limits that need delivery (recipients, message size); path and SIZE limits run in memory (SessionLimitsTests).
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class LimitsTests
{
    [Fact]
    public async Task Hundred_recipients_are_accepted_and_each_gets_a_copy()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var users = Enumerable.Range(0, 100).Select(i => $"u{i}").ToArray();
        var reply = await SmtpAssert.TransactionAsync(c, "a@remote.test", users.Select(u => u + "@example.test"), "Subject: hundred\r\n\r\nhi\r\n");
        SmtpAssert.Reply(reply, 250, "2.0.0");
        foreach (var u in users) Assert.Single(await server.WaitForMailAsync(u));
        Assert.Equal(100, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Recipient_past_MaxRecipients_gets_452_and_the_rest_go_through()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxRecipients = 100);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        // Pipelined, as real clients send big recipient lists.
        var sb = new StringBuilder();
        for (var i = 0; i < 101; i++) sb.Append($"RCPT TO:<u{i}@example.test>\r\n");
        await c.SendAsync(sb.ToString());
        for (var i = 0; i < 100; i++) SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.1.5");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 452, "4.5.3");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: capped\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        await server.WaitForMailAsync("u99");
        for (var i = 0; i < 100; i++) Assert.Single(await server.WaitForMailAsync($"u{i}"));
        Assert.False(Directory.Exists(server.MaildirNew("u100")));
        Assert.Equal(100, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Data_over_MaxMessageSize_gets_552_after_the_dot_and_the_session_goes_on()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxMessageSize = 65536);
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("SIZE 65536", ehlo.Lines);
        var line = new string('y', 98) + "\r\n";
        var big = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(line, 1024)); // ~100 KB
        Assert.True(big.Length > 100_000);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], big), 552, "5.3.4");
        // The very next reply belongs to the next command: the body was consumed to the dot, not parsed as commands.
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], "Subject: small\r\n\r\nok\r\n"), 250, "2.0.0");
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Contains("Subject: small", SmtpAssert.ReadText(file));
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Message_of_exactly_MaxMessageSize_is_accepted()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxMessageSize = 65536);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var head = "Subject: exact\r\n\r\n";
        var sb = new StringBuilder(head);
        while (sb.Length + 100 <= 65536) sb.Append(new string('z', 98)).Append("\r\n");
        sb.Append(new string('z', 65536 - sb.Length - 2)).Append("\r\n");
        Assert.Equal(65536, sb.Length);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "a@remote.test", ["alice@example.test"], sb.ToString()), 250, "2.0.0");
        var bytes = SmtpAssert.ReadBytes(Assert.Single(await server.WaitForMailAsync("alice")));
        var start = SmtpAssert.IndexOf(bytes, Encoding.ASCII.GetBytes(head));
        Assert.Equal(65536, bytes.Length - start);
    }
}
