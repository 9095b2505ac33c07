// The scripts shipped in scripts/, copied as they are into a temporary folder and driven over SMTP.
using MailKit.Net.Smtp;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class ShippedScriptTests
{
    [Fact]
    public async Task All_shipped_scripts_without_settings_let_normal_mail_through()
    {
        using var folder = new ScriptFolder();
        foreach (var name in new[] { "add-header", "helo-checks", "rate-limit", "recipient-validation", "vrfy-policy" }) folder.CopyShipped(name);
        await using var server = await Scripting.StartAsync(folder);
        Assert.Equal(["add-header", "helo-checks", "rate-limit", "recipient-validation", "vrfy-policy"], server.ScriptHost().ScriptNames);

        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.None);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("sender@remote.test"));
            message.To.Add(MailboxAddress.Parse("anyone@example.test"));
            message.Subject = "hello";
            message.Body = new TextPart("plain") { Text = "normal mail" };
            await client.SendAsync(message);
            await client.DisconnectAsync(true);
        }
        var delivered = await server.WaitForMailAsync("anyone");
        Assert.Contains("X-Policy: checked by Mta", File.ReadAllText(delivered[0]));

        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("EHLO localhost"), 250);
        SmtpAssert.Reply(await c.CommandAsync("VRFY alice"), 252);
    }

    [Fact]
    public async Task Recipient_validation_refuses_unknown_users_of_local_domains_from_list_and_file()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("recipient-validation");
        var usersFile = Path.Combine(folder.Path, "users.txt");
        File.WriteAllText(usersFile, "# users\ncarol\n  dave  # trailing comment\n");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("recipient-validation:Users:0", "alice"),
            ("recipient-validation:Users:1", "bob@example.test"),
            ("recipient-validation:UsersFile", usersFile)));

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<ALICE@localhost>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@localhost>"), 550, "5.1.1", "User unknown");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<dave@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<mallory@example.test>"), 550, "5.1.1", "User unknown");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Postmaster@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<Postmaster>"), 250);

        // The file is read again when it changes.
        File.WriteAllText(usersFile, "mallory\n");
        File.SetLastWriteTimeUtc(usersFile, DateTime.UtcNow.AddSeconds(5));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<mallory@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 550, "5.1.1");
        // A configured file that vanished defers rather than bounces.
        File.Delete(usersFile);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<erin@example.test>"), 451, "4.3.0");
    }

    [Fact]
    public async Task Recipient_validation_without_a_list_accepts_every_local_user()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("recipient-validation");
        await using var server = await Scripting.StartAsync(folder);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<whoever@example.test>"), 250);
    }

    [Fact]
    public async Task Rate_limit_defers_messages_over_the_limit_per_client()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("rate-limit");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("rate-limit:MaxMessagesPerMinute", "2"), ("rate-limit:ExemptLoopback", "false")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        for (var i = 0; i < 2; i++)
        {
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        }
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 450, "4.7.0", "rate limit exceeded");
        // Counted per client, not per session.
        await using var other = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(other);
        SmtpAssert.Reply(await other.CommandAsync("MAIL FROM:<y@remote.test>"), 450, "4.7.0");
    }

    [Fact]
    public async Task Rate_limit_closes_connections_over_the_limit_with_421()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("rate-limit");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("rate-limit:MaxConnectionsPerMinute", "2"), ("rate-limit:ExemptLoopback", "false")));
        for (var i = 0; i < 2; i++)
        {
            await using var ok = await SmtpAssert.ConnectAsync(server);
        }
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 421, "4.7.0", "Too many connections");
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Rate_limit_leaves_loopback_alone_by_default()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("rate-limit");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(("rate-limit:MaxMessagesPerMinute", "1")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        for (var i = 0; i < 3; i++)
        {
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
        }
    }

    [Fact]
    public async Task Add_header_adds_the_configured_field()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("add-header");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("add-header:Name", "X-Scanned"), ("add-header:Value", "yes, by policy")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@remote.test", ["rcpt@example.test"], "Subject: t\r\n\r\nbody\r\n"), 250);
        var delivered = await server.WaitForMailAsync("rcpt");
        var text = File.ReadAllText(delivered[0]);
        Assert.Contains("X-Scanned: yes, by policy\r\n", text);
        Assert.True(text.IndexOf("X-Scanned:", StringComparison.Ordinal) < text.IndexOf("Subject: t", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Add_header_with_an_invalid_name_does_not_start()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("add-header");
        var ex = await Assert.ThrowsAsync<Mta.Engine.Configuration.StartupException>(() =>
            Scripting.StartAsync(folder, Scripting.Settings(("add-header:Name", "Bad Name:"))));
        Assert.Contains("add-header", ex.Message);
        Assert.Contains("not a valid header field name", ex.Message);
    }

    [Fact]
    public async Task Helo_checks_refuse_a_client_that_claims_to_be_this_server()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("helo-checks");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(("helo-checks:ExemptLoopback", "false")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("HELO mta.test"), 550, "5.7.1", "Helo command rejected");
        SmtpAssert.Reply(await c.CommandAsync("EHLO Example.Test."), 550, "5.7.1");
        SmtpAssert.Reply(await c.CommandAsync("EHLO localhost"), 550, "5.7.1");
        SmtpAssert.Reply(await c.CommandAsync("EHLO [127.0.0.1]"), 250);
        SmtpAssert.Reply(await c.CommandAsync("EHLO nofqdn"), 250);
        SmtpAssert.Reply(await c.CommandAsync("HELO client.remote.test"), 250);
    }

    [Fact]
    public async Task Helo_checks_require_a_fqdn_when_configured()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("helo-checks");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("helo-checks:RequireFqdn", "true"), ("helo-checks:ExemptLoopback", "false")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("EHLO nofqdn"), 504, "5.5.2", "need fully-qualified hostname");
        SmtpAssert.Reply(await c.CommandAsync("HELO bad_name.remote.test"), 504, "5.5.2");
        SmtpAssert.Reply(await c.CommandAsync("EHLO [IPv6:::1]"), 250);
        SmtpAssert.Reply(await c.CommandAsync("EHLO mx.remote.test"), 250);
    }

    [Fact]
    public async Task Helo_checks_leave_loopback_clients_alone_by_default()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("helo-checks");
        await using var server = await Scripting.StartAsync(folder);
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("HELO localhost"), 250);
        SmtpAssert.Reply(await c.CommandAsync("EHLO mta.test"), 250);
    }

    [Fact]
    public async Task Vrfy_policy_answers_listed_users_only_when_allowed()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("vrfy-policy");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("vrfy-policy:Answer", "true"), ("vrfy-policy:Users:0", "alice")));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("VRFY alice"), 250, "2.1.5", "<alice@mta.test>");
        SmtpAssert.Reply(await c.CommandAsync("VRFY <Alice@example.test>"), 250, "2.1.5", "<alice@example.test>");
        SmtpAssert.Reply(await c.CommandAsync("VRFY mallory"), 252);
    }

    [Fact]
    public async Task Terminal_policy_keeps_strangers_and_quiet_users_off_terminals_but_not_out_of_mailboxes()
    {
        var me = Environment.UserName.ToLowerInvariant();
        using var folder = new ScriptFolder();
        folder.CopyShipped("terminal-policy");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(("terminal-policy:QuietUsers:0", "bob")),
            configure: o => o.Terminal.Enabled = true);
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<mallory@elsewhere.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync($"RCPT TO:<{me}@example.test>"), 550, "5.7.1", "local senders only");
            SmtpAssert.Reply(await c.CommandAsync("RSET"), 250);
            SmtpAssert.Reply(await c.CommandAsync("SEND FROM:<alice@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 550, "5.7.1", "does not take terminal messages");
        }

        // A stranger's SOML to a user who is at a terminal: kept, in the mailbox, never shown.
        var control = await Mta.Engine.Control.ControlClient.ConnectAsync(server.Paths.ControlSocketPath, TestContext.Current.CancellationToken);
        var events = control.SendAsync(Mta.Engine.Terminal.TerminalControlCommands.Attach, null, TestContext.Current.CancellationToken)
            .GetAsyncEnumerator(TestContext.Current.CancellationToken);
        Assert.True(await events.MoveNextAsync());
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("SOML FROM:<mallory@elsewhere.test>"), 250);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, [$"{me}@example.test"], "Subject: hi\r\n\r\nhello\r\n"), 250);
        }
        Assert.Single(await server.WaitForMailAsync(me));
        var next = events.MoveNextAsync().AsTask();
        Assert.False(await Task.WhenAny(next, Task.Delay(300, TestContext.Current.CancellationToken)) == next, "the terminal showed a stranger's message");
        // Closing the connection ends the pending read; only then may the stream be disposed.
        await control.DisposeAsync();
        try { await next; } catch (Exception ex) when (ex is Mta.Engine.Control.ControlException or IOException or OperationCanceledException) { }
        await events.DisposeAsync();
    }
}
