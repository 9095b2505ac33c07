// TURN (RFC 821 4.1.1) both ways against Mta itself: the server side reverses roles for an authenticated user's held domains, `mta turn` receives.
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class TurnTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Server A: backup for held.test and elsewhere.test (both held; the route hosts are never used), TURN allowed on its
    /// loopback listener with AUTH in clear text; user u holds held.test, user w holds nothing.
    /// </summary>
    private static async Task<MtaTestServer> StartServerAAsync(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null)
    {
        var server = await MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].AllowTurn = true;
            o.Listeners[0].AllowPlaintextAuth = true;
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Relay.Routes["held.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = 9, Tls = OutboundTlsPolicy.None, Hold = true };
            o.Relay.Routes["elsewhere.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = 9, Tls = OutboundTlsPolicy.None, Hold = true };
            o.Turn.Domains["u"] = ["held.test"];
            o.Auth.HashIterations = 100_000;
            configure?.Invoke(o);
        }, hooks);
        var users = server.Services.GetRequiredService<UserStore>();
        users.Add("u", "secret", []);
        users.Add("w", "secret", []);
        return server;
    }

    /// <summary>Submits one message from a trusted client and waits until the queue holds it.</summary>
    private static async Task SubmitHeldAsync(MtaTestServer server, string recipient, string subject)
    {
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "sender@example.test", [recipient], $"Subject: {subject}\r\n\r\nheld for you\r\n"), 250);
        }
        var admin = server.Services.GetRequiredService<IQueueAdministration>();
        await Conditions.WaitUntilAsync(() => admin.List().SelectMany(e => e.Recipients).Any(r => r.Address == recipient && r.State == QueueRecipientState.Deferred),
            $"{recipient} held", Bound);
    }

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));

    private static IReadOnlyList<RecipientSnapshot> Pending(MtaTestServer server) =>
        server.Services.GetRequiredService<IQueueAdministration>().List().SelectMany(e => e.Recipients)
            .Where(r => r.State.IsPending()).ToArray();

    [Fact]
    public async Task A_raw_client_that_turns_receives_the_users_held_mail_and_only_that()
    {
        await using var server = await StartServerAAsync();
        await SubmitHeldAsync(server, "bob@held.test", "first");
        await SubmitHeldAsync(server, "carol@held.test", "second");
        await SubmitHeldAsync(server, "dave@elsewhere.test", "not yours");

        await using var peer = await Peer.ConnectAsync(server.EndPoint);
        Assert.Equal(220, (await peer.ReadReplyAsync()).Code);
        var ehlo = await peer.CommandAsync("EHLO client.test");
        Assert.Equal(250, ehlo.Code);
        Assert.Contains("TURN", ehlo.Lines);
        Assert.Equal(235, (await peer.CommandAsync("AUTH PLAIN " + Plain("u", "secret"))).Code);
        SmtpAssert.Reply(await peer.CommandAsync("TURN"), 250, "2.0.0", "turning around");

        // Now we are the server: greet, and take what comes.
        var messages = await peer.ServeAsync("client.test");
        Assert.Equal(2, messages.Count);
        Assert.Equal(["<bob@held.test>", "<carol@held.test>"], messages.SelectMany(m => m.Recipients).Order());
        Assert.Contains(messages, m => m.Data.Contains("Subject: first", StringComparison.Ordinal));
        Assert.All(messages, m => Assert.Equal("<sender@example.test>", m.From));
        Assert.True(await peer.IsClosedAsync(), "server A did not close the connection after its QUIT");

        // held.test is done; elsewhere.test is not u's and still waits.
        await Conditions.WaitUntilAsync(() => !Pending(server).Any(r => r.Address.EndsWith("@held.test", StringComparison.Ordinal)),
            "held.test done", Bound);
        Assert.Contains(Pending(server), r => r.Address == "dave@elsewhere.test");
    }

    [Fact]
    public async Task A_client_that_never_greets_after_TURN_hits_the_greeting_timeout_and_the_mail_stays()
    {
        await using var server = await StartServerAAsync(o => o.Relay.Timeouts.Greeting = TimeSpan.FromSeconds(1));
        await SubmitHeldAsync(server, "bob@held.test", "waiting");
        await using var peer = await Peer.ConnectAsync(server.EndPoint);
        await peer.ReadReplyAsync();
        await peer.CommandAsync("EHLO client.test");
        Assert.Equal(235, (await peer.CommandAsync("AUTH PLAIN " + Plain("u", "secret"))).Code);
        SmtpAssert.Reply(await peer.CommandAsync("TURN"), 250, "2.0.0");
        Assert.True(await peer.IsClosedAsync(TimeSpan.FromSeconds(15)), "server A kept waiting for a greeting");
        Assert.Contains(Pending(server), r => r.Address == "bob@held.test");
        // The server is fine: a new session works.
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task TURN_is_refused_unauthenticated_for_a_user_without_domains_and_before_EHLO()
    {
        await using var server = await StartServerAAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("TURN"), 503, "5.5.1");
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("TURN"), 530, "5.7.0", "Authentication required");
        SmtpAssert.Reply(await c.CommandAsync("AUTH PLAIN " + Plain("w", "secret")), 235);
        SmtpAssert.Reply(await c.CommandAsync("TURN"), 550, "5.7.1", "no mail is held here for user w");
        SmtpAssert.Reply(await c.CommandAsync("HELP"), 214, "2.0.0", "TURN");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task A_listener_without_AllowTurn_answers_502_even_to_an_allowed_user()
    {
        await using var server = await StartServerAAsync(o => o.Listeners[0].AllowTurn = false);
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("TURN", ehlo.Lines);
        SmtpAssert.Reply(await c.CommandAsync("AUTH PLAIN " + Plain("u", "secret")), 235);
        SmtpAssert.Reply(await c.CommandAsync("TURN"), 502, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task The_turn_hook_may_veto()
    {
        await using var server = await StartServerAAsync(hooks: r =>
            r.Register<TurnContext>("no-turn-today", (ctx, ct) => ValueTask.FromResult(HookResult.Reject("Not today", 550, "5.7.1"))));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("AUTH PLAIN " + Plain("u", "secret")), 235);
        SmtpAssert.Reply(await c.CommandAsync("TURN"), 550, "5.7.1", "Not today");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task Mta_turn_receives_the_held_mail_into_its_own_Maildir()
    {
        await using var server = await StartServerAAsync();
        await SubmitHeldAsync(server, "bob@held.test", "over the turned connection");
        var root = Path.Combine(Path.GetTempPath(), "mta-turn-" + Guid.NewGuid().ToString("n")[..12]);
        try
        {
            var config = WriteClientConfig(root);
            var (exit, output) = await MtaProcess.RunWithInputAsync("secret\n", "turn", $"127.0.0.1:{server.Port}", "--domain", "held.test",
                "--user", "u", "--password-stdin", "--tls", "none", "--config", config);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            Assert.Contains("received 1 message(s)", output);
            var delivered = Directory.GetFiles(Path.Combine(root, "maildir", "bob", "new"));
            var text = File.ReadAllText(Assert.Single(delivered));
            Assert.Contains("Subject: over the turned connection", text);
            // B's Received field names server A as the client it received from.
            Assert.Contains("by b.test", text);
            await Conditions.WaitUntilAsync(() => Pending(server).Count == 0, "server A's queue emptied", Bound);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

    [Fact]
    public async Task Mta_turn_over_STARTTLS_keeps_the_reversed_session_inside_TLS()
    {
        await using var server = await StartServerAAsync(o =>
        {
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            o.Listeners[0].AllowPlaintextAuth = false;
        });
        await SubmitHeldAsync(server, "bob@held.test", "under TLS");
        var root = Path.Combine(Path.GetTempPath(), "mta-turn-" + Guid.NewGuid().ToString("n")[..12]);
        try
        {
            var config = WriteClientConfig(root);
            var (exit, output) = await MtaProcess.RunWithInputAsync("secret\n", "turn", $"127.0.0.1:{server.Port}", "--domain", "held.test",
                "--user", "u", "--password-stdin", "--tls", "encrypt", "--config", config);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            Assert.Contains("received 1 message(s)", output);
            var text = File.ReadAllText(Assert.Single(Directory.GetFiles(Path.Combine(root, "maildir", "bob", "new"))));
            Assert.Contains("Subject: under TLS", text);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

    [Fact]
    public async Task Mta_turn_exit_codes_for_refusal_no_connection_and_usage()
    {
        await using var server = await StartServerAAsync();
        var root = Path.Combine(Path.GetTempPath(), "mta-turn-" + Guid.NewGuid().ToString("n")[..12]);
        try
        {
            var config = WriteClientConfig(root);
            var refused = await MtaProcess.RunWithInputAsync("secret\n", "turn", $"127.0.0.1:{server.Port}", "--domain", "held.test",
                "--user", "w", "--password-stdin", "--tls", "none", "--config", config);
            Assert.True(refused.ExitCode == 1, $"exit {refused.ExitCode}: {refused.Output}");
            Assert.Contains("550 5.7.1", refused.Output);

            var badPassword = await MtaProcess.RunWithInputAsync("wrong\n", "turn", $"127.0.0.1:{server.Port}", "--domain", "held.test",
                "--user", "u", "--password-stdin", "--tls", "none", "--config", config);
            Assert.True(badPassword.ExitCode == 1, $"exit {badPassword.ExitCode}: {badPassword.Output}");
            Assert.Contains("535", badPassword.Output);

            // A port bound here but never listened on refuses connections, and stays ours until the check is done.
            using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var nobody = await MtaProcess.RunToEndAsync("turn", $"{closed.LocalEndPoint}", "--domain", "held.test", "--tls", "none", "--config", config);
            Assert.True(nobody.ExitCode == 3, $"exit {nobody.ExitCode}: {nobody.Output}");

            var noDomain = await MtaProcess.RunToEndAsync("turn", $"127.0.0.1:{server.Port}", "--config", config);
            Assert.True(noDomain.ExitCode == 2, $"exit {noDomain.ExitCode}: {noDomain.Output}");
            var foreignDomain = await MtaProcess.RunToEndAsync("turn", $"127.0.0.1:{server.Port}", "--domain", "elsewhere.test", "--config", config);
            Assert.True(foreignDomain.ExitCode == 2, $"exit {foreignDomain.ExitCode}: {foreignDomain.Output}");
            Assert.Contains("loop", foreignDomain.Output);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(root);
        }
    }

    /// <summary>Site B: its local domain is held.test; its listener is never opened by `mta turn`.</summary>
    private static string WriteClientConfig(string root)
    {
        Directory.CreateDirectory(root);
        var config = new Dictionary<string, object?>
        {
            ["HostName"] = "b.test",
            ["DataDirectory"] = root,
            ["Listeners"] = new[] { new { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = "None" } },
            ["LocalDomains"] = new[] { "held.test" },
            ["Mailboxes"] = new { AcceptAnyLocalPart = true },
            ["Dns"] = MtaProcess.NoDns,
            ["Authentication"] = MtaProcess.NoVerification,
            ["ShutdownTimeout"] = "00:00:10",
            ["Logging"] = new { LogLevel = new { Default = "Warning" } },
        };
        var path = Path.Combine(root, "mta.config.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    /// <summary>One message a <see cref="Peer"/> received after the roles were reversed.</summary>
    private sealed record Received(string From, IReadOnlyList<string> Recipients, string Data);

    /// <summary>A socket that plays the client until TURN and the receiving server after it, line by line.</summary>
    private sealed class Peer : IAsyncDisposable
    {
        private readonly RawSmtpClient _client;

        private Peer(RawSmtpClient client) => _client = client;

        public static async Task<Peer> ConnectAsync(IPEndPoint endPoint) =>
            new(await RawSmtpClient.ConnectAsync(endPoint, readGreeting: false));

        public Task WriteAsync(string text) => _client.SendAsync(text);

        public Task<RawReply> CommandAsync(string line) => _client.CommandAsync(line);

        public Task<RawReply> ReadReplyAsync() => _client.ReadReplyAsync();

        public Task<bool> IsClosedAsync(TimeSpan? timeout = null) => _client.IsClosedByServerAsync(timeout);

        private Task<string?> ReadLineAsync() => _client.ReadLineAsync();

        /// <summary>Greets, answers EHLO and every transaction, until QUIT; returns what was received.</summary>
        public async Task<IReadOnlyList<Received>> ServeAsync(string name)
        {
            var received = new List<Received>();
            await WriteAsync($"220 {name} ESMTP turned around\r\n");
            string? from = null;
            var recipients = new List<string>();
            while (true)
            {
                var line = await ReadLineAsync() ?? throw new IOException("server A closed without QUIT");
                var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await WriteAsync($"250-{name}\r\n250 ENHANCEDSTATUSCODES\r\n");
                        break;
                    case "MAIL":
                        from = line[(line.IndexOf(':') + 1)..].Split(' ')[0];
                        recipients.Clear();
                        await WriteAsync("250 2.1.0 Ok\r\n");
                        break;
                    case "RCPT":
                        recipients.Add(line[(line.IndexOf(':') + 1)..].Split(' ')[0]);
                        await WriteAsync("250 2.1.5 Ok\r\n");
                        break;
                    case "DATA":
                        await WriteAsync("354 go ahead\r\n");
                        var data = new StringBuilder();
                        while (await ReadLineAsync() is { } dataLine && dataLine != ".") data.Append(dataLine).Append("\r\n");
                        received.Add(new Received(from!, recipients.ToArray(), data.ToString()));
                        await WriteAsync("250 2.0.0 Ok: got it\r\n");
                        break;
                    case "QUIT":
                        await WriteAsync("221 2.0.0 Bye\r\n");
                        return received;
                    default:
                        await WriteAsync("250 2.0.0 Ok\r\n");
                        break;
                }
            }
        }

        public ValueTask DisposeAsync() => _client.DisposeAsync();
    }
}
