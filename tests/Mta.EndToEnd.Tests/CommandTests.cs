// Command replies that need the whole server (delivery to a Maildir); the rest run in memory (Mta.Engine.Tests, SessionCommandTests).
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class CommandTests
{
    [Fact]
    public async Task HELO_NOOP_and_lower_case_verbs_work()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        var helo = SmtpAssert.Reply(await c.CommandAsync("HELO client.test"), 250);
        Assert.Single(helo.Lines);
        Assert.Contains("mta.test", helo.Lines[0]);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("NOOP this is ignored"), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("noop"), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("ehlo lower.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("mail from:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RcPt To:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("data"), 354);
        await c.SendAsync("Subject: lower\r\n\r\nx\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("rset"), 250);
        SmtpAssert.Reply(await c.CommandAsync("quit"), 221);
        Assert.Single(await server.WaitForMailAsync("alice"));
    }
}
