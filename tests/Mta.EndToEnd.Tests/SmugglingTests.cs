// SMTP smuggling: bare CR/LF end-of-data look-alikes never end a message, and what follows them is never executed. (Split across writes: SessionSmugglingTests.)
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class SmugglingTests
{
    public static TheoryData<string, string> FakeTerminators => new()
    {
        { "LF.LF", "\n.\n" },
        { "CR.CR", "\r.\r" },
        { "CRLF.LF", "\r\n.\n" },
        { "LF.CRLF", "\n.\r\n" },
        { "CR.CRLF", "\r.\r\n" },
        { "CRLF.CR", "\r\n.\r" },
    };
    [Theory]
    [MemberData(nameof(FakeTerminators))]
    public async Task Fake_end_of_data_is_data_and_the_message_is_refused(string name, string fake)
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        var smuggled =
            "Subject: outer " + name + "\r\n\r\ntext" + fake +
            "MAIL FROM:<evil@x.test>\r\n" +
            "RCPT TO:<alice@example.test>\r\n" +
            "DATA\r\n" +
            "Subject: smuggled\r\n\r\nevil\r\n" +
            ".\r\n";
        await c.SendAsync(smuggled);
        // Exactly one reply for the whole DATA: the refusal for the bare line ending.
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.6.0");
        // The very next reply answers our HELP: nothing of the smuggled text ran as a command.
        SmtpAssert.Reply(await c.CommandAsync("HELP"), 214);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250, "2.0.0");
        // The refused transaction is over.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");

        // A clean message afterwards on the same session is delivered, and it is the only one anywhere.
        var clean = await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["carol@example.test"], "Subject: clean\r\n\r\nclean body\r\n");
        SmtpAssert.Reply(clean, 250, "2.0.0");
        var file = Assert.Single(await server.WaitForMailAsync("carol"));
        Assert.Contains("Subject: clean", SmtpAssert.ReadText(file));
        // The queue works in order of acceptance: once the clean one is delivered, nothing else was queued before it.
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
        Assert.False(Directory.Exists(server.MaildirNew("alice")));
        Assert.False(Directory.Exists(server.MaildirNew("bob")));
    }

    [Fact]
    public async Task Bare_LF_inside_a_line_refuses_the_message_even_without_a_dot()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["bob@example.test"], "Subject: lf\r\n\r\none\ntwo\r\n");
        SmtpAssert.Reply(reply, 554, "5.6.0");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        var clean = await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["bob@example.test"], "Subject: ok\r\n\r\nok\r\n");
        SmtpAssert.Reply(clean, 250);
        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Contains("Subject: ok", SmtpAssert.ReadText(file));
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
    }
}
