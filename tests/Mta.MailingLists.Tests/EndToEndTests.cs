// The plugin loaded from its build output by the real loader, driven over SMTP with MailKit and a raw client.
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.MailingLists.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.MailingLists.Tests;

public sealed class EndToEndTests
{
    private static readonly (string, string)[] DevAndOps =
    [
        ("Lists:dev@example.test:Description", "Developers"),
        ("Lists:dev@example.test:Members:0", "alice@example.test"),
        ("Lists:dev@example.test:Members:1", "Bob <bob@example.test>"),
        ("Lists:dev@example.test:Members:2", "ops@example.test"),
        ("Lists:ops@example.test:Members:0", "carol@example.test"),
    ];

    private static Task<MtaTestServer> StartAsync(IEnumerable<(string Key, string Value)> settings, string[]? users = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Plugins["lists"] = new PluginOptions
            {
                Path = PluginBuild.Directory,
                Settings = new ConfigurationBuilder()
                    .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>("Settings:" + s.Key, s.Value)))
                    .Build()
                    .GetSection("Settings"),
            };
            if (users is not null)
            {
                o.Mailboxes.Users = [.. users];
                o.Mailboxes.AcceptAnyLocalPart = false;
            }
            o.Scripts.Enabled = false; // the repository's scripts/ folder is not part of these tests
        });

    private static async Task SendAsync(MtaTestServer server, params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@remote.test"));
        foreach (var t in to) message.To.Add(MailboxAddress.Parse(t));
        message.Subject = "to the list";
        message.Body = new TextPart("plain") { Text = "Hello, list.\n" };
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    private static async Task WaitIdleAsync(MtaTestServer server) =>
        await server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(30));

    private static string[] Mail(MtaTestServer server, string user) =>
        Directory.Exists(server.MaildirNew(user)) ? [.. Directory.GetFiles(server.MaildirNew(user)).Select(File.ReadAllText)] : [];

    [Fact]
    public async Task A_message_to_a_list_reaches_every_member_of_it_and_its_nested_list_once()
    {
        await using var server = await StartAsync(DevAndOps);

        await SendAsync(server, "dev@example.test");
        await server.WaitForMailAsync("carol");
        await WaitIdleAsync(server);

        foreach (var user in new[] { "alice", "bob" })
        {
            var copy = Assert.Single(Mail(server, user));
            Assert.StartsWith("Return-Path: <owner-dev@example.test>\r\n", copy);
            Assert.Contains("\r\nList-Id: Developers <dev.example.test>\r\n", copy);
            Assert.Contains("\r\nX-Loop: dev@example.test\r\n", copy);
            Assert.Contains("Hello, list.", copy);
        }
        var carol = Assert.Single(Mail(server, "carol"));
        // Bounces for the nested list's members go to that list's owner.
        Assert.StartsWith("Return-Path: <owner-ops@example.test>\r\n", carol);
        Assert.Contains("\r\nList-Id: <ops.example.test>\r\n", carol);
        Assert.Contains("\r\nX-Loop: dev@example.test\r\n", carol);
        Assert.Contains("\r\nX-Loop: ops@example.test\r\n", carol);
        Assert.False(Directory.Exists(server.MaildirNew("dev")));
        Assert.False(Directory.Exists(server.MaildirNew("ops")));
        Assert.Equal(0, server.Services.GetRequiredService<QueueScheduler>().PendingRecipients);
    }

    [Fact]
    public async Task Lists_that_contain_themselves_or_each_other_end_with_one_copy_per_member()
    {
        await using var server = await StartAsync(
        [
            ("Lists:loop@example.test:Members:0", "loop@example.test"),
            ("Lists:loop@example.test:Members:1", "alice@example.test"),
            ("Lists:loop@example.test:Members:2", "ring@example.test"),
            ("Lists:ring@example.test:Members:0", "loop@example.test"),
            ("Lists:ring@example.test:Members:1", "bob@example.test"),
        ]);

        await SendAsync(server, "loop@example.test");
        await server.WaitForMailAsync("bob");
        await WaitIdleAsync(server);

        // An idle queue has nothing left to expand: a loop would have left a recipient pending or a second copy.
        Assert.Single(Mail(server, "alice"));
        Assert.Single(Mail(server, "bob"));
        var queue = server.Services.GetRequiredService<QueueScheduler>();
        Assert.Equal(0, queue.PendingRecipients);
        Assert.Equal(0, queue.Totals.Bounced);
    }

    [Fact]
    public async Task Rcpt_to_a_list_is_accepted_where_unknown_users_are_refused()
    {
        await using var server = await StartAsync(DevAndOps, users: ["alice", "bob", "carol"]);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<sender@remote.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<dev@example.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<Ops@Example.Test>")).Code);
        Assert.Equal(550, (await smtp.CommandAsync("RCPT TO:<nobody@example.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("Subject: both lists\r\n\r\nHi.\r\n.")).Code);

        await server.WaitForMailAsync("carol");
        await WaitIdleAsync(server);
        // ops is a recipient of the message itself, so dev's expansion leaves it out: carol gets ops' copy only.
        Assert.Single(Mail(server, "alice"));
        Assert.Single(Mail(server, "bob"));
        Assert.Single(Mail(server, "carol"));
    }

    [Fact]
    public async Task Expn_answers_the_membership_only_when_allowed()
    {
        await using (var closed = await StartAsync(DevAndOps))
        await using (var smtp = await RawSmtpClient.ConnectAsync(closed.EndPoint))
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal(252, (await smtp.CommandAsync("EXPN dev@example.test")).Code);
            Assert.Equal(252, (await smtp.CommandAsync("VRFY dev@example.test")).Code);
        }

        await using var open = await StartAsync([.. DevAndOps, ("AllowExpn", "true")]);
        await using var client = await RawSmtpClient.ConnectAsync(open.EndPoint);
        await client.CommandAsync("EHLO client.test");
        var reply = await client.CommandAsync("EXPN dev");
        Assert.Equal(250, reply.Code);
        Assert.Equal(["2.1.5 <alice@example.test>", "2.1.5 Bob <bob@example.test>", "2.1.5 <ops@example.test>"], reply.Lines);
        Assert.Equal(252, (await client.CommandAsync("EXPN alice@example.test")).Code);
        Assert.Equal(252, (await client.CommandAsync("VRFY dev@example.test")).Code);
    }

    [Fact]
    public async Task A_list_kept_as_a_file_is_expanded()
    {
        var folder = Path.Combine(Path.GetTempPath(), "mta-lists-e2e-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(folder);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "team@example.test"), "# team\nalice\ncarol@example.test\n");
            await using var server = await StartAsync([("Directory", folder)]);

            await SendAsync(server, "team@example.test");
            await server.WaitForMailAsync("carol");
            await WaitIdleAsync(server);

            Assert.StartsWith("Return-Path: <owner-team@example.test>\r\n", Assert.Single(Mail(server, "alice")));
            Assert.Contains("\r\nList-Id: <team.example.test>\r\n", Assert.Single(Mail(server, "carol")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
