// Aliases end to end over SMTP: alias names accepted at RCPT, local and remote targets delivered, owner- and ORCPT on the
// forwarded copy, a DSN that names the alias, and an alias file edited while the server runs.
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class AliasTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mta-aliases-" + Guid.NewGuid().ToString("n")[..12]);

    public AliasTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => MtaTestServer.DeleteQuietly(_folder);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string WriteAliases(string text)
    {
        var path = Path.Combine(_folder, "aliases");
        File.WriteAllText(path, text);
        return path;
    }

    private Task<MtaTestServer> StartAsync(string aliases, TestSmtpServer? peer = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Aliases.Files = [WriteAliases(aliases)];
            o.Mailboxes.AcceptAnyLocalPart = false;
            o.Mailboxes.Users = ["alice", "bob", "carol"];
            if (peer is not null)
            {
                o.Relay.Routes["remote.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
                o.Relay.Resilience.ConnectRetryDelay = TimeSpan.Zero;
            }
        });

    private static async Task SendAsync(MtaTestServer server, string from, string to, string subject)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, [to], $"Subject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\nhello\r\n"),
            250, "2.0.0", "queued as");
    }

    private static string DeliveryStatus(MimeMessage dsn)
    {
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        using var text = new MemoryStream();
        status.Content!.DecodeTo(text);
        return Encoding.UTF8.GetString(text.ToArray());
    }

    [Fact]
    public async Task An_alias_name_is_accepted_at_RCPT_and_an_unknown_name_is_refused_550_5_1_1()
    {
        await using var server = await StartAsync("staff: alice, bob\n");
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);

        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Staff@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<nobody-here@example.test>"), 550, "5.1.1");
    }

    [Fact]
    public async Task An_alias_to_two_local_users_lands_in_both_Maildirs()
    {
        await using var server = await StartAsync("# team\nstaff: alice,\n  bob@example.test\n");

        await SendAsync(server, "s@remote.test", "staff@example.test", "two");

        var alice = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        var bob = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("bob")));
        Assert.Contains("Delivered-To: alice@example.test\r\n", alice, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: bob@example.test\r\n", bob, StringComparison.Ordinal);
        Assert.Contains("Subject: two\r\n", bob, StringComparison.Ordinal);
        Assert.False(Directory.Exists(server.MaildirNew("staff")));
    }

    [Fact]
    public async Task A_list_of_a_local_and_a_remote_user_forwards_from_its_owner_with_the_alias_as_ORCPT()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync("list: alice, dave@remote.test\nowner-list: carol\n", peer);

        await SendAsync(server, "s@remote.test", "list@example.test", "listmail");

        Assert.Single(await server.WaitForMailAsync("alice"));
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(20));
        var forwarded = Assert.Single(peer.Received);
        Assert.Equal("owner-list@example.test", forwarded.MailFrom);
        Assert.Equal(["dave@remote.test"], forwarded.Recipients);
        Assert.Contains("ORCPT=rfc822;list@example.test", Assert.Single(forwarded.RcptLines), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Delivered-To: list@example.test\r\n", forwarded.DataText, StringComparison.Ordinal);
        Assert.Contains("Subject: listmail\r\n", forwarded.DataText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_remote_target_bounces_with_a_DSN_naming_the_alias_as_original_recipient()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            RcptReply = line => line.Contains("gone@remote.test", StringComparison.OrdinalIgnoreCase) ? "550 5.1.1 no such user" : null,
        });
        await using var server = await StartAsync("fwd: gone@remote.test\n", peer);

        await SendAsync(server, "carol@example.test", "fwd@example.test", "bounceme");

        var dsnFile = Assert.Single(await server.WaitForMailAsync("carol"));
        var dsn = await MimeMessage.LoadAsync(dsnFile, Ct);
        var status = DeliveryStatus(dsn);
        Assert.Contains("Original-Recipient: rfc822;fwd@example.test", status, StringComparison.Ordinal);
        Assert.Contains("Final-Recipient: rfc822; gone@remote.test", status, StringComparison.Ordinal);
        Assert.Contains("Status: 5.1.1", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_alias_that_only_loops_bounces_with_the_loop_status_not_a_generic_one()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        await using var server = await StartAsync("ping: pong\npong: ping\n", peer);

        await SendAsync(server, "carol@example.test", "ping@example.test", "loop");

        var dsn = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("carol")), Ct);
        var status = DeliveryStatus(dsn);
        Assert.Contains("Action: failed", status, StringComparison.Ordinal);
        Assert.Contains("Status: 5.4.6", status, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task An_alias_file_edited_while_the_server_runs_takes_effect()
    {
        await using var server = await StartAsync("staff: alice\n");
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<sales@example.test>"), 550, "5.1.1");

        // Saved as editors do: a new file renamed over the old one.
        var path = server.Options.Aliases.Files[0];
        File.WriteAllText(path + ".new", "staff: alice\nsales: bob, carol\n");
        File.Move(path + ".new", path, overwrite: true);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await c.CommandAsync("RCPT TO:<sales@example.test>")).Code != 250)
        {
            Assert.True(DateTime.UtcNow < deadline, "the edited alias file was not picked up");
            await Task.Delay(50, Ct);
        }
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: edited\r\n\r\nhi\r\n."), 250);
        Assert.Single(await server.WaitForMailAsync("bob"));
        Assert.Single(await server.WaitForMailAsync("carol"));
    }

    [Fact]
    public async Task A_reload_takes_a_changed_list_of_alias_files()
    {
        await using var server = await StartAsync("staff: alice\n");
        var reloadable = Assert.Single(server.Services.GetServices<IReloadable>(), r => r.Name == "aliases");
        var second = Path.Combine(_folder, "more-aliases");
        File.WriteAllText(second, "ops: bob\n");
        server.Options.Aliases.Files = [second];

        reloadable.Reload(server.Options);

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<s@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<staff@example.test>"), 550, "5.1.1");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<ops@example.test>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: reloaded\r\n\r\nhi\r\n."), 250);
        Assert.Single(await server.WaitForMailAsync("bob"));
    }

    [Fact]
    public async Task After_a_reload_adds_a_local_domain_an_alias_target_in_it_is_a_local_mailbox()
    {
        await using var peer = await TestSmtpServer.StartAsync();
        // Until the reload, added.test is a remote domain routed to the peer.
        await using var server = await StartAsync("staff: alice@added.test\n", peer);
        server.Options.Relay.Routes["added.test"] = server.Options.Relay.Routes["remote.test"];
        var live = server.Services.GetRequiredService<Mta.Engine.Reload.LiveSettings>();
        var changed = new MtaOptions { LocalDomains = [.. server.Options.LocalDomains, "added.test"], Mailboxes = server.Options.Mailboxes };

        live.Reload(changed);
        await SendAsync(server, "s@remote.test", "staff@example.test", "now-local");

        var alice = SmtpAssert.ReadText(Assert.Single(await server.WaitForMailAsync("alice")));
        Assert.Contains("Subject: now-local", alice, StringComparison.Ordinal);
        // Delivered as a local mailbox of the alias, not forwarded as a new message (which would carry the alias's own
        // Delivered-To line).
        Assert.Contains("Delivered-To: alice@", alice, StringComparison.Ordinal);
        Assert.DoesNotContain("Delivered-To: staff@", alice, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task Command_and_file_targets_run_the_pipe_and_append_to_the_mbox_file_with_the_alias_as_original_recipient()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("command and file targets need /bin/sh and fcntl locks");
        // As root the targets of this root-owned alias file run as Aliases:DefaultUser (nobody), who must reach the folder.
        var drop = Path.Combine(_folder, "drop");
        Directory.CreateDirectory(drop);
        File.SetUnixFileMode(_folder, (UnixFileMode)0x1ED);
        File.SetUnixFileMode(drop, (UnixFileMode)0x1FF);
        var mbox = Path.Combine(drop, "archive.mbox");
        var robot = Path.Combine(drop, "robot.txt");
        await using var server = await StartAsync(
            $"archive: {mbox}\nrobot: \"|(echo $SENDER $RECIPIENT $ORIGINAL_RECIPIENT uid=$(id -u); cat) > {robot}.tmp && mv {robot}.tmp {robot}\"\nboth: archive, robot\n");

        await SendAsync(server, "s@remote.test", "both@example.test", "targets");

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!File.Exists(robot) || !File.Exists(mbox) || new FileInfo(mbox).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the alias targets were not delivered");
            await Task.Delay(20, Ct);
        }
        var uid = Mta.Engine.Delivery.UnixAccounts.IsEffectiveRoot ? "65534"
            : Mta.Engine.Delivery.UnixAccounts.EffectiveUid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var lines = File.ReadAllLines(robot);
        // The envelope recipient the alias was expanded for, in both: the pipe ran for it.
        Assert.Equal($"s@remote.test both@example.test both@example.test uid={uid}", lines[0]);
        Assert.Contains("Subject: targets", lines);
        var archived = File.ReadAllText(mbox);
        Assert.StartsWith("From s@remote.test ", archived, StringComparison.Ordinal);
        Assert.Contains("Subject: targets\n", archived, StringComparison.Ordinal);
        var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", mbox]) { RedirectStandardOutput = true })!;
        var owner = (await stat.StandardOutput.ReadToEndAsync(Ct)).Trim();
        await stat.WaitForExitAsync(Ct);
        Assert.Equal(uid, owner);
    }

    [Fact]
    public async Task Mta_check_names_a_bad_alias_file_line_and_passes_a_good_one()
    {
        var root = Path.Combine(_folder, "data");
        var aliases = WriteAliases("staff: alice\nbroken line\n");
        var config = MtaProcess.WriteConfig(root, extra: new Dictionary<string, object?>
        {
            ["Aliases"] = new { Files = new[] { aliases } },
            ["Dns"] = MtaProcess.NoDns,
        });

        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains($"{aliases}:2: expected 'name: target, ...'", output, StringComparison.Ordinal);

        File.WriteAllText(aliases, "staff: alice\nstaff: bob\n");
        (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.True(code == 0, output);
        Assert.Contains($"warning: {aliases}:2: duplicate alias 'staff'", output, StringComparison.Ordinal);
    }
}
