// Virtual domains, virtual aliases, the recipient delimiter, canonical maps and relay domains, over SMTP end to end.
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class AddressMapTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly string _maps = Directory.CreateTempSubdirectory("mta-maps-").FullName;

    public void Dispose() => MtaTestServer.DeleteQuietly(_maps);

    private string Map(string name, string text)
    {
        var path = Path.Combine(_maps, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static void VirtualDomain(MtaOptions o, params string[] users) =>
        o.Virtual.Domains["virt.test"] = new VirtualDomainOptions { Users = [.. users] };

    private static NextHopOptions To(TestSmtpServer peer) => new() { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };

    private static async Task<RawReply> SendAsync(MtaTestServer server, string from, string[] to, string subject = "maps")
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        return await SmtpAssert.TransactionAsync(c, from, to, $"From: <{from}>\r\nTo: <{to[0]}>\r\nSubject: {subject}\r\n\r\nhello\r\n");
    }

    [Fact]
    public async Task Virtual_users_land_in_their_own_Maildirs_and_an_unknown_one_is_refused()
    {
        await using var server = await MtaTestServer.StartAsync(o => VirtualDomain(o, "vera", "victor"));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<nobody@virt.test>"), 550, "5.1.1", "virtual mailbox table");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Vera@Virt.Test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<victor@virt.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
            SmtpAssert.Reply(await c.CommandAsync("Subject: virtual\r\n\r\nhi\r\n."), 250);
        }
        var vera = await server.WaitForMailAsync("virt.test/vera");
        var victor = await server.WaitForMailAsync("virt.test/victor");
        Assert.Contains("Delivered-To: Vera@Virt.Test\r\n", SmtpAssert.ReadText(Assert.Single(vera)), StringComparison.Ordinal);
        Assert.Single(victor);
        // A virtual user is not a local one: nothing under the root in the user's own name.
        Assert.False(Directory.Exists(server.MaildirNew("vera")));
    }

    [Fact]
    public async Task The_catch_all_takes_unknown_users_only()
    {
        var aliases = Map("virtual", "@virt.test   catchall@example.test\n");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            VirtualDomain(o, "vera");
            o.Virtual.AliasFiles = [aliases];
        });
        SmtpAssert.Reply(await SendAsync(server, "s@remote.test", ["vera@virt.test", "whoever@virt.test"]), 250);
        Assert.Single(await server.WaitForMailAsync("virt.test/vera"));
        var caught = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("catchall")));
        Assert.Contains("Delivered-To: catchall@example.test\r\n", caught, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_virtual_alias_goes_to_a_local_and_a_remote_address_with_the_original_recipient_as_ORCPT()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        var aliases = Map("virtual", "# team\nteam@virt.test   alice@example.test,\n    ext@remote.test\n");
        var seen = new List<string>();
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            VirtualDomain(o, "vera");
            o.Virtual.AliasFiles = [aliases];
            o.Relay.Routes["remote.test"] = To(peer);
        }, r => r.Register<RcptContext>("seen", (ctx, _) =>
        {
            lock (seen) seen.Add(ctx.Recipient.Address.ToString());
            return ValueTask.FromResult(HookResult.Continue);
        }));
        SmtpAssert.Reply(await SendAsync(server, "s@remote.test", ["team@virt.test"]), 250);

        var local = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        Assert.Contains("Delivered-To: alice@example.test\r\n", local, StringComparison.Ordinal);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        var remote = Assert.Single(peer.Received);
        Assert.Equal(["ext@remote.test"], remote.Recipients);
        Assert.Contains("ORCPT=rfc822;team@virt.test", Assert.Single(remote.RcptLines), StringComparison.OrdinalIgnoreCase);
        // The RCPT hooks saw the address the client sent, not the expansion.
        lock (seen) Assert.Equal(["team@virt.test"], seen);
    }

    [Fact]
    public async Task A_detail_goes_to_the_folder_of_that_name_when_it_exists_else_to_the_inbox()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.Users = ["alice"];
            o.Mailboxes.RecipientDelimiter = "+";
        });
        var tagFolder = Path.Combine(server.Paths.MaildirRoot, "alice", ".tag");
        foreach (var sub in new[] { "new", "cur", "tmp" }) Directory.CreateDirectory(Path.Combine(tagFolder, sub));

        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob+tag@example.test>"), 550, "5.1.1");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice+tag@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
            SmtpAssert.Reply(await c.CommandAsync("Subject: tagged\r\n\r\nhi\r\n."), 250);
        }
        SmtpAssert.Reply(await SendAsync(server, "s@remote.test", ["alice+nofolder@example.test"]), 250);

        var tagged = await WaitForFilesAsync(Path.Combine(tagFolder, "new"), 1);
        Assert.Contains("Delivered-To: alice+tag@example.test\r\n", SmtpAssert.ReadText(Assert.Single(tagged)), StringComparison.Ordinal);
        var inbox = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        Assert.Contains("Delivered-To: alice+nofolder@example.test\r\n", inbox, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(server.Paths.MaildirRoot, "alice+tag")));
        Assert.False(Directory.Exists(Path.Combine(server.Paths.MaildirRoot, "alice", ".nofolder")));
    }

    [Fact]
    public async Task Canonical_maps_rewrite_the_envelope_and_for_a_trusted_client_the_header()
    {
        var senders = Map("sender_canonical", "s@client.test   sender@example.test\n");
        var recipients = Map("recipient_canonical", "@old.test   @example.test\n");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Canonical.SenderFiles = [senders];
            o.Canonical.RecipientFiles = [recipients];
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
        });
        SmtpAssert.Reply(await SendAsync(server, "s@client.test", ["carol@old.test"]), 250);

        var text = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("carol")));
        Assert.StartsWith("Return-Path: <sender@example.test>\r\nDelivered-To: carol@example.test\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nFrom: sender@example.test\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nTo: carol@example.test\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Canonical_maps_leave_the_header_of_an_untrusted_clients_mail_as_sent()
    {
        var senders = Map("sender_canonical", "s@client.test   sender@example.test\n");
        await using var server = await MtaTestServer.StartAsync(o => o.Canonical.SenderFiles = [senders]);
        SmtpAssert.Reply(await SendAsync(server, "s@client.test", ["carol@example.test"]), 250);

        var text = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("carol")));
        Assert.StartsWith("Return-Path: <sender@example.test>\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nFrom: <s@client.test>\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_relay_domain_is_accepted_from_an_untrusted_client_and_forwarded_to_its_next_hop()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.Domains["relay.test"] = new RelayDomainOptions();
            o.Relay.Routes["relay.test"] = To(peer);
        });
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@other.test>"), 554, "5.7.1");
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<anyone@relay.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
            SmtpAssert.Reply(await c.CommandAsync("Subject: via backup mx\r\n\r\nhi\r\n."), 250);
        }
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        var forwarded = Assert.Single(peer.Received);
        Assert.Equal(["anyone@relay.test"], forwarded.Recipients);
        Assert.Equal("s@remote.test", forwarded.MailFrom);
        Assert.Contains("Subject: via backup mx", forwarded.DataText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_relay_recipient_is_refused_by_the_list()
    {
        var list = Map("relay_recipients", "known@relay.test\n@open.relay.test\n");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.Domains["relay.test"] = new RelayDomainOptions { RecipientsFile = list };
            o.Relay.Domains["open.relay.test"] = new RelayDomainOptions { RecipientsFile = list };
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<stranger@relay.test>"), 550, "5.1.1", "relay recipient table");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Known@relay.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<anyone@open.relay.test>"), 250);
    }

    [Fact]
    public async Task An_unknown_relay_recipient_is_refused_by_the_next_hop_and_the_answer_cached()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            RcptReply = address => address switch
            {
                "gone@relay.test" => "550 5.1.1 <gone@relay.test>: no such user here",
                "busy@relay.test" => "452 4.2.2 mailbox busy",
                _ => null,
            },
        });
        await using var closed = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { DropOnConnect = true });
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.Domains["relay.test"] = new RelayDomainOptions { VerifyWithNextHop = true };
            o.Relay.Routes["relay.test"] = To(peer);
            o.Relay.Domains["down.test"] = new RelayDomainOptions { VerifyWithNextHop = true };
            o.Relay.Routes["down.test"] = To(closed);
            o.Relay.RecipientVerification.Timeout = TimeSpan.FromSeconds(10);
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<gone@relay.test>"), 550, "5.1.1", "no such user here");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<gone@relay.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<busy@relay.test>"), 450, "4.1.1", "mailbox busy");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<here@relay.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@down.test>"), 450, "4.1.1");

        var commands = peer.Commands;
        Assert.Equal(1, commands.Count(l => l.Equals("RCPT TO:<gone@relay.test>", StringComparison.OrdinalIgnoreCase)));
        Assert.Contains(commands, l => l.StartsWith("MAIL FROM:<>", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(commands, l => l.Equals("DATA", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task A_next_hop_that_does_not_answer_gives_450_within_the_verification_timeout_and_the_session_goes_on()
    {
        await using var silent = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromMinutes(2) });
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.Domains["slow.test"] = new RelayDomainOptions { VerifyWithNextHop = true };
            o.Relay.Routes["slow.test"] = To(silent);
            o.Relay.RecipientVerification.Timeout = TimeSpan.FromSeconds(1);
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        // Bounded by the test's own wait, far above the 1 s the verification may take.
        var reply = await c.CommandAsync("RCPT TO:<x@slow.test>").WaitAsync(TimeSpan.FromSeconds(30), Ct);
        SmtpAssert.Reply(reply, 450, "4.1.1", "no answer");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task Sessions_asking_about_one_relay_recipient_at_once_share_one_verification()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromMilliseconds(200) });
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.Domains["relay.test"] = new RelayDomainOptions { VerifyWithNextHop = true };
            o.Relay.Routes["relay.test"] = To(peer);
        });
        async Task<RawReply> AskAsync()
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
            return await c.CommandAsync("RCPT TO:<same@relay.test>");
        }
        var replies = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => AskAsync())).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.All(replies, r => SmtpAssert.Reply(r, 250));
        Assert.Equal(1, peer.Commands.Count(l => l.Equals("RCPT TO:<same@relay.test>", StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public async Task An_alias_file_edited_while_the_server_runs_takes_effect()
    {
        var aliases = Map("virtual", "sales@virt.test   vera@virt.test\n");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            VirtualDomain(o, "vera", "victor");
            o.Virtual.AliasFiles = [aliases];
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<support@virt.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);

        // Saved as editors do: a new file renamed over the old one.
        File.WriteAllText(aliases + ".new", "sales@virt.test   vera@virt.test\nsupport@virt.test victor@virt.test\n");
        File.Move(aliases + ".new", aliases, overwrite: true);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
            var reply = await c.CommandAsync("RCPT TO:<support@virt.test>");
            if (reply.Code == 250) break;
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
            Assert.True(DateTime.UtcNow < deadline, "the edited alias file was not picked up");
            await Task.Delay(50, Ct);
        }
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: support\r\n\r\nhi\r\n."), 250);
        Assert.Single(await server.WaitForMailAsync("virt.test/victor"));
    }

    [Fact]
    public async Task Mta_check_names_a_bad_map_line_and_mta_run_serves_the_maps()
    {
        var root = Path.Combine(_maps, "data");
        Directory.CreateDirectory(root);
        var aliases = Map("virtual", "sales@virt.test   vera@virt.test\nbroken@virt.test\n");
        var users = Map("virt_users", "vera\n");
        var extra = new Dictionary<string, object?>
        {
            ["Virtual"] = new { Domains = new Dictionary<string, object> { ["virt.test"] = new { UsersFile = users } }, AliasFiles = new[] { aliases } },
        };
        var config = MtaProcess.WriteConfig(root, extra: extra);
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains($"Virtual:AliasFiles:0: {aliases}:2: 'broken@virt.test' has no value", output, StringComparison.Ordinal);

        File.WriteAllText(aliases, "sales@virt.test   vera@virt.test\n");
        (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.True(code == 0, output);

        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        await using var c = await RawSmtpClient.ConnectAsync(SmtpAssert.Loopback(port));
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<sales@virt.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<vera@virt.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<victor@virt.test>"), 550, "5.1.1");
    }

    [Fact]
    public async Task The_maps_are_reloadables_that_take_changed_options()
    {
        await using var server = await MtaTestServer.StartAsync(o => VirtualDomain(o, "vera"));
        var reloadables = server.Services.GetServices<IReloadable>().ToList();
        Assert.Contains(reloadables, r => r.Name == "virtual maps");
        Assert.Contains(reloadables, r => r.Name == "canonical maps");
        Assert.Contains(reloadables, r => r.Name == "relay domains");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@relay.test>"), 554, "5.7.1");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<walt@virt.test>"), 550, "5.1.1");

        var changed = server.Options;
        changed.Relay.Domains["relay.test"] = new RelayDomainOptions();
        changed.Virtual.Domains["virt.test"].Users.Add("walt");
        foreach (var r in reloadables) r.Reload(changed);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<x@relay.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<walt@virt.test>"), 250);
    }

    private static async Task<string[]> WaitForFilesAsync(string folder, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var files = Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
            if (files.Length >= count) return files;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{folder}: {files.Length} of {count} messages");
            await Task.Delay(20, Ct);
        }
    }
}
