// SEND, SOML and SAML end to end: accepted over SMTP, spooled, and shown on a terminal attached through the control socket.
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Control;
using Mta.Engine.Queue;
using Mta.Engine.Terminal;
using static Mta.Testing.Conditions;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class TerminalDeliveryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The user the control socket's peer credentials map to (root in CI); the test attaches as itself.
    private static string Me => Environment.UserName.ToLowerInvariant();

    private static Task<MtaTestServer> StartAsync(Action<IHookRegistrar>? hooks = null) =>
        MtaTestServer.StartAsync(o => o.Terminal.Enabled = true, hooks);

    /// <summary>An attached `mta terminal` as the control socket sees it: the stream of terminal events.</summary>
    private sealed class Attached : IAsyncDisposable
    {
        private readonly ControlClient _client;
        private readonly IAsyncEnumerator<ControlResponse> _events;

        private Attached(ControlClient client, IAsyncEnumerator<ControlResponse> events) => (_client, _events) = (client, events);

        public static async Task<Attached> AttachAsync(MtaTestServer server)
        {
            var client = await ControlClient.ConnectAsync(server.Paths.ControlSocketPath, Ct);
            client.ReadTimeout = TimeSpan.FromSeconds(20);
            var events = client.SendAsync(TerminalControlCommands.Attach, null, Ct).GetAsyncEnumerator(Ct);
            Assert.True(await events.MoveNextAsync());
            Assert.Equal("attached", events.Current.GetResult(TerminalControlJsonContext.Default.TerminalEvent).Type);
            return new Attached(client, events);
        }

        public async Task<TerminalEvent> NextAsync()
        {
            Assert.True(await _events.MoveNextAsync());
            return _events.Current.GetResult(TerminalControlJsonContext.Default.TerminalEvent);
        }

        public async ValueTask DisposeAsync()
        {
            await _events.DisposeAsync();
            await _client.DisposeAsync();
        }
    }

    private static async Task<string> TransactionAsync(MtaTestServer server, string verb, string rcpt, string body)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync($"{verb} FROM:<alice@example.test>"), 250);
        var reply = SmtpAssert.Reply(await SmtpAssert.TransactionAsyncAfterMail(c, [rcpt], body), 250);
        return SmtpAssert.QueueIdOf(reply.Lines[^1]);
    }

    private static Task IdleAsync(MtaTestServer server) =>
        server.Services.GetRequiredService<QueueScheduler>().WaitForIdleAsync(TimeSpan.FromSeconds(30), Ct);


    [Fact]
    public async Task Send_reaches_the_attached_terminal_sanitised_and_not_the_mailbox()
    {
        await using var server = await StartAsync();
        await using var terminal = await Attached.AttachAsync(server);
        await TransactionAsync(server, "SEND", $"{Me}@example.test", "Subject: lunch?\r\n\r\nAre you coming down?\x1b[2J\r\n");
        var shown = await terminal.NextAsync().WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal("message", shown.Type);
        Assert.Equal("alice@example.test", shown.From);
        Assert.Equal("lunch?", shown.Subject);
        Assert.Contains("Are you coming down?", shown.Text, StringComparison.Ordinal);
        Assert.DoesNotContain('\x1b', shown.Text!);
        await IdleAsync(server);
        Assert.False(Directory.Exists(server.MaildirNew(Me)));
    }

    [Fact]
    public async Task Soml_goes_to_the_terminal_when_active_and_to_the_mailbox_when_not()
    {
        await using var server = await StartAsync();
        await TransactionAsync(server, "SOML", $"{Me}@example.test", "Subject: nobody home\r\n\r\nto the mailbox\r\n");
        Assert.Single(await server.WaitForMailAsync(Me));

        await using var terminal = await Attached.AttachAsync(server);
        await TransactionAsync(server, "SOML", $"{Me}@example.test", "Subject: at the desk\r\n\r\nto the terminal\r\n");
        Assert.Equal("at the desk", (await terminal.NextAsync().WaitAsync(TimeSpan.FromSeconds(20), Ct)).Subject);
        await IdleAsync(server);
        Assert.Single(Directory.GetFiles(server.MaildirNew(Me)));
    }

    [Fact]
    public async Task Saml_goes_to_the_terminal_and_the_mailbox()
    {
        await using var server = await StartAsync();
        await using var terminal = await Attached.AttachAsync(server);
        await TransactionAsync(server, "SAML", $"{Me}@example.test", "Subject: both\r\n\r\neverywhere\r\n");
        Assert.Equal("both", (await terminal.NextAsync().WaitAsync(TimeSpan.FromSeconds(20), Ct)).Subject);
        var file = Assert.Single(await server.WaitForMailAsync(Me));
        Assert.Contains("Subject: both", await File.ReadAllTextAsync(file, Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Terminal_gone_before_delivery_bounces_send_and_falls_back_to_the_mailbox_for_soml()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Holds terminal deliveries until the test has detached, so the user leaves between acceptance and delivery.
        await using var server = await StartAsync(r => r.Register<DeliverContext>("hold", async (c, ct) =>
        {
            if (c.Route.Kind == RouteKind.Terminal) await release.Task.WaitAsync(ct);
            return HookResult.Continue;
        }));
        var terminals = server.Services.GetRequiredService<ITerminals>();
        var terminal = await Attached.AttachAsync(server);
        await TransactionAsync(server, "SEND", $"{Me}@example.test", "Subject: too late\r\n\r\ngone\r\n");
        await TransactionAsync(server, "SOML", $"{Me}@example.test", "Subject: fall back\r\n\r\nmailbox then\r\n");
        await terminal.DisposeAsync();
        await WaitUntilAsync(async () => !await terminals.IsActiveAsync(Me, Ct));
        release.SetResult();
        await IdleAsync(server);

        // SOML landed in the mailbox; SEND bounced to its sender with a DSN.
        var mailbox = Assert.Single(Directory.GetFiles(server.MaildirNew(Me)));
        Assert.Contains("Subject: fall back", await File.ReadAllTextAsync(mailbox, Ct), StringComparison.Ordinal);
        var dsn = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("alice")), Ct);
        Assert.Equal("Undelivered Mail Returned to Sender", dsn.Subject);
        var status = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(dsn.Body)[1]);
        using var text = new MemoryStream();
        status.Content!.DecodeTo(text);
        var fields = System.Text.Encoding.UTF8.GetString(text.ToArray());
        Assert.Contains("Action: failed", fields, StringComparison.Ordinal);
        Assert.Contains("Status: 5.2.1", fields, StringComparison.Ordinal);
        Assert.Contains("no longer logged in", fields, StringComparison.Ordinal);
    }
}
