// No open relay: non-local mail needs a trusted network; local users and postmaster (RFC 5321 4.5.1) are routed right.
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class RelayTests
{
    [Fact]
    public async Task Untrusted_loopback_client_cannot_relay()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@remote.test>"), 554, "5.7.1", "Relay access denied");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@[192.0.2.1]>"), 554, "5.7.1", "Relay access denied");
        // A local domain with a trailing dot or odd case is still local.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@EXAMPLE.test>"), 250, "2.1.5");
    }

    [Fact]
    public async Task Trusted_network_may_relay_and_the_message_is_queued_for_the_remote_domain()
    {
        var deferred = new TaskCompletionSource<(string Rcpt, string Reason)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await MtaTestServer.StartAsync(
            o => o.Relay.TrustedNetworks = ["127.0.0.0/8"],
            r => r.Register<DeferredContext>("observe", (ctx, ct) =>
            {
                deferred.TrySetResult((ctx.Recipient.Address.ToString(), ctx.Reason));
                return ValueTask.FromResult(HookResult.Continue);
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = await SmtpAssert.TransactionAsync(c, "a@example.test", ["bob@remote.test"], "Subject: outbound\r\n\r\nhi\r\n");
        SmtpAssert.Reply(reply, 250, "2.0.0", "queued as");
        var (rcpt, _) = await deferred.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.Equal("bob@remote.test", rcpt);
        // Not delivered anywhere local.
        Assert.Equal(0, SmtpAssert.CountAllDelivered(server));
        Assert.False(Directory.Exists(server.MaildirNew("bob")));
    }

    [Fact]
    public async Task Known_users_only_and_postmaster_always()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.Users = ["alice"];
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.Postmaster = "admin";
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<ALICE@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: for alice\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);

        // RFC 5321 4.5.1: postmaster in any case, at any local domain, and the bare <Postmaster>.
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<postmaster@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: pm1\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<POSTMASTER@localhost>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: pm2\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Postmaster>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: pm3\r\n\r\nhi\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);

        var admin = await server.WaitForMailAsync("admin", 3);
        Assert.Equal(3, admin.Length);
        var subjects = admin.Select(f => SmtpAssert.ReadText(f).Split("\r\n").First(l => l.StartsWith("Subject: "))).Order().ToArray();
        Assert.Equal(["Subject: pm1", "Subject: pm2", "Subject: pm3"], subjects);
        // Two RCPTs for alice (different case) in one transaction: at least one copy, in alice's Maildir.
        var alice = await server.WaitForMailAsync("alice");
        Assert.Contains("Subject: for alice", SmtpAssert.ReadText(alice[0]));
        Assert.False(Directory.Exists(server.MaildirNew("postmaster")));
        Assert.False(Directory.Exists(server.MaildirNew("bob")));
    }
}
