// Mta's milter client against our own test milter over real sockets: every stage, reply kind, change and failure.
using Mta.EndToEnd.Tests.Infrastructure;
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
}
