// Recipients checked at RCPT: impossible mailbox names get 550 5.1.3, unknown ones 550 5.1.1, postmaster always passes,
// and no Maildir folder is ever made for a refused name.
using System.Net;
using MailKit.Net.Smtp;
using MimeKit;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Terminal;

namespace Mta.EndToEnd.Tests;

public sealed class LocalRecipientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] ImpossibleNames =
    [
        "\"../etc\"", "\"..\"", "\".hidden\"", "\"trailing.\"", "\"a..b\"", "\"a/b\"", "\"a\\\\b\"", "\"a b\"", "\"a@b\"", "a!b", "a%b",
    ];

    private static string[] Folders(MtaTestServer server) =>
        Directory.Exists(server.Paths.MaildirRoot)
            ? Directory.GetDirectories(server.Paths.MaildirRoot).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray()
            : [];

    [Fact]
    public async Task Names_that_cannot_be_a_mailbox_get_550_5_1_3_at_RCPT_even_when_any_local_part_is_accepted()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Mailboxes.AcceptAnyLocalPart = true);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        foreach (var local in ImpossibleNames)
            SmtpAssert.Reply(await c.CommandAsync($"RCPT TO:<{local}@example.test>"), 550, "5.1.3", "cannot be a mailbox name");
        // Longer than RFC 5321's 64 octets: refused by the parser already, still at RCPT.
        Assert.Equal(5, (await c.CommandAsync($"RCPT TO:<{new string('a', 65)}@example.test>")).Code / 100);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<anyone.at_all+tag@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: one good name\r\n\r\nbody\r\n."), 250);

        Assert.Single(await server.WaitForMailAsync("anyone.at_all+tag"));
        Assert.Equal(["anyone.at_all+tag"], Folders(server));
    }

    [Fact]
    public async Task With_AcceptAnyLocalPart_off_only_postmaster_and_the_listed_users_are_accepted()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.Users = ["alice"];
            o.Mailboxes.Postmaster = "admin";
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Alice@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.1.1", "User unknown");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<\"a/b\"@example.test>"), 550, "5.1.3");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<PostMaster@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<postmaster>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: known only\r\n\r\nbody\r\n."), 250);

        Assert.Single(await server.WaitForMailAsync("alice"));
        Assert.Equal(2, (await server.WaitForMailAsync("admin", count: 2)).Length);
        Assert.Equal(["admin", "alice"], Folders(server));
    }

    [Fact]
    public async Task MailKit_sees_the_refusals_at_RCPT_not_a_bounce_later()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Mailboxes.AcceptAnyLocalPart = false);
        using var client = new SmtpClient { Timeout = 15_000, LocalDomain = "mailkit.test" };
        await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.None, Ct);
        foreach (var (to, status) in new[] { ("\"a b\"@example.test", "5.1.3"), ("stranger@example.test", "5.1.1") })
        {
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("sender@remote.test"));
            message.To.Add(MailboxAddress.Parse(to));
            message.Subject = "nobody here";
            message.Body = new TextPart("plain") { Text = "x\r\n" };
            var ex = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(message, Ct));
            Assert.Equal(SmtpErrorCode.RecipientNotAccepted, ex.ErrorCode);
            Assert.Equal(550, (int)ex.StatusCode);
            Assert.Contains(status, ex.Message);
        }
        await client.DisconnectAsync(true, Ct);
        Assert.Empty(Folders(server));
    }

    [Fact]
    public async Task An_RCPT_hook_can_accept_a_recipient_the_built_in_policy_does_not_know()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Mailboxes.AcceptAnyLocalPart = false,
            hooks: h => h.Register<RcptContext>("sales-alias", (ctx, _) => ValueTask.FromResult(
                ctx.Recipient.Address.LocalPart == "sales" ? HookResult.Accept() : HookResult.Continue)));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<sales@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<marketing@example.test>"), 550, "5.1.1");
    }

    [Fact]
    public async Task System_users_in_the_uid_range_are_accepted_others_are_not()
    {
        var me = Environment.UserName;
        Assert.SkipWhen(OperatingSystem.IsWindows(), "no passwd database on Windows");
        var myUid = UnixUsers.UidOf(me);
        Assert.SkipWhen(myUid is null || !Engine.Delivery.MailboxNames.IsValid(me), $"the account '{me}' is not in the passwd database as a mailbox name");
        // Another account of this host, outside the one-uid range: root, or daemon when the tests run as root.
        var other = myUid == 0 ? "daemon" : "root";
        Assert.SkipWhen(UnixUsers.UidOf(other) is null, $"no '{other}' account");

        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.SystemUsers = true;
            o.Mailboxes.MinSystemUid = myUid!.Value;
            o.Mailboxes.MaxSystemUid = myUid.Value;
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync($"RCPT TO:<{me.ToUpperInvariant()}@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync($"RCPT TO:<{other}@example.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<no-such-account-here@example.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: to a login\r\n\r\nbody\r\n."), 250);
        Assert.Single(await server.WaitForMailAsync(me.ToLowerInvariant()));

        await using var off = await MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.SystemUsers = false;
            o.Mailboxes.MinSystemUid = myUid!.Value;
            o.Mailboxes.MaxSystemUid = myUid.Value;
        });
        await using var d = await SmtpAssert.ConnectAsync(off);
        await SmtpAssert.EhloAsync(d);
        SmtpAssert.Reply(await d.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await d.CommandAsync($"RCPT TO:<{me}@example.test>"), 550, "5.1.1");
    }

    [Fact]
    public async Task An_installed_config_that_does_not_say_refuses_unknown_names_and_mta_check_shows_the_policy()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-rcpt-" + Guid.NewGuid().ToString("n")[..12]);
        try
        {
            var config = MtaProcess.WriteConfig(root, extra: new Dictionary<string, object?>
            {
                ["Mailboxes"] = new { Users = new[] { "alice" } },
            });
            var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
            Assert.True(code == 0, output);
            Assert.Contains("local recipients: postmaster, 1 user(s) of Mailboxes:Users, system accounts with uid 1000-60000", output);
            var embedded = await MtaProcess.RunToEndAsync("check", "--config", Path.Combine(AppContext.BaseDirectory, "mta.config.json"));
            Assert.Contains("local recipients: any local part", embedded.Output);

            await using var server = MtaProcess.Start("run", "--config", config);
            var port = await server.WaitForListenerAsync();
            await using var c = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<postmaster@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<random-name-7f3a@example.test>"), 550, "5.1.1");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<\"../x\"@example.test>"), 550, "5.1.3");
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }
}
