// Interoperability with a real Postfix 3.7 in both directions: Postfix relays to Mta, Mta relays (and bounces) through Postfix.
using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests;

/// <summary>One private Postfix for the whole class (starting one costs about a second). Its transport map sends mail for
/// <c>localhost</c>, Mta's local domain, to a port chosen here, on which the Postfix-to-Mta test starts Mta.</summary>
public sealed class PostfixFixture : IAsyncLifetime
{
    public PostfixInstance? Postfix { get; private set; }
    /// <summary>The port Mta listens on when Postfix is to relay to it.</summary>
    public int MtaPort { get; private set; }

    public async ValueTask InitializeAsync()
    {
        // Unavailable (no Postfix, not root): every test skips with the reason instead of failing.
        if (!PostfixInstance.IsAvailable) return;
        // Chosen before anything binds it: Postfix's transport map must name it before Postfix starts, and Postfix
        // reads the map only at start. Below the ephemeral range, so no port-0 bind of another test can take it.
        MtaPort = PostfixInstance.FreeLoopbackPort();
        Postfix = await PostfixInstance.StartAsync(new PostfixSettings
        {
            Users = ["alice", "bob"],
            Transport = new Dictionary<string, string> { ["localhost"] = $"[127.0.0.1]:{MtaPort}" },
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Postfix is not null) await Postfix.DisposeAsync();
    }

    /// <summary>The running instance, or skips the test with the reason Postfix cannot run here.</summary>
    public PostfixInstance Require()
    {
        PostfixInstance.SkipIfUnavailable();
        return Postfix ?? throw new InvalidOperationException("Postfix is available but the fixture did not start it");
    }
}

public sealed class PostfixInteropTests(PostfixFixture fixture) : IClassFixture<PostfixFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    // Generous but bounded: both MTAs deliver within a second on loopback; a queue retry of either side takes a few more.
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    // Lines that stress dot-stuffing on both hops (a lone dot, leading dots) and 8-bit UTF-8 text (8BITMIME both ways).
    private const string Body =
        "First line\r\n" +
        ".leading dot\r\n" +
        "..two leading dots\r\n" +
        ".\r\n" +
        "Grüße aus Köln — ¿qué tal? 日本語のテキスト 🚀\r\n" +
        "last line\r\n";

    private static MimeMessage NewMessage(string from, string to, string subject)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(from));
        m.To.Add(MailboxAddress.Parse(to));
        m.Subject = subject;
        m.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("mailkit.test");
        var part = new TextPart("plain");
        part.SetText("utf-8", Body);
        part.ContentTransferEncoding = ContentEncoding.EightBit;
        m.Body = part;
        return m;
    }

    /// <summary>One SMTP transaction with MailKit; returns the final reply text ("... queued as ID").</summary>
    private static async Task<string> SendAsync(int port, MimeMessage message)
    {
        using var client = new SmtpClient { Timeout = 15_000, LocalDomain = "mailkit.test" };
        await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None, Ct);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime), "server does not offer 8BITMIME");
        var reply = await client.SendAsync(message, Ct);
        await client.DisconnectAsync(true, Ct);
        return reply;
    }

    private static string QueueIdOf(string reply)
    {
        var m = Regex.Match(reply, @"queued as ([A-Za-z0-9]+)");
        Assert.True(m.Success, "no queue id in: " + reply);
        return m.Groups[1].Value;
    }

    private static List<string> ReceivedFields(MimeMessage m) =>
        m.Headers.Where(h => h.Id == HeaderId.Received).Select(h => h.Value).ToList();

    /// <summary>Starts Mta relaying pf.test to the fixture's Postfix, trusting loopback; deferrals and bounces are
    /// collected so that a timeout says why nothing arrived.</summary>
    private static Task<MtaTestServer> StartRelayingMtaAsync(PostfixInstance postfix, ConcurrentQueue<string> events) =>
        MtaTestServer.StartAsync(
            o =>
            {
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                o.Relay.Routes["pf.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = postfix.SmtpPort, Tls = OutboundTlsPolicy.None };
                o.Relay.Resilience.ConnectRetryDelay = TimeSpan.FromMilliseconds(200);
            },
            r =>
            {
                r.Register<DeferredContext>("observe-deferred", (ctx, _) =>
                {
                    events.Enqueue($"deferred <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
                r.Register<BouncedContext>("observe-bounced", (ctx, _) =>
                {
                    events.Enqueue($"bounced <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
            });

    private static string Diagnose(PostfixInstance postfix, IEnumerable<string> mtaEvents) =>
        $"Mta events:\n  {string.Join("\n  ", mtaEvents.DefaultIfEmpty("(none)"))}\nPostfix log:\n{postfix.LogTail(30)}";

    [Fact]
    public async Task Postfix_relays_to_Mta_with_its_trace_and_the_body_intact()
    {
        var postfix = fixture.Require();
        await using var mta = await MtaTestServer.StartAsync(o => o.Listeners[0].Port = fixture.MtaPort);

        var sent = NewMessage("carol@pf.test", "user@localhost", "Postfix to Mta");
        var postfixId = QueueIdOf(await SendAsync(postfix.SmtpPort, sent));

        string file;
        try { file = Assert.Single(await mta.WaitForMailAsync("user", 1, DeliveryTimeout)); }
        catch (TimeoutException e) { throw new TimeoutException(e.Message + "\n" + Diagnose(postfix, []), e); }

        var got = await MimeMessage.LoadAsync(file, Ct);
        Assert.Equal("Postfix to Mta", got.Subject);
        Assert.Equal(sent.MessageId, got.MessageId);
        Assert.Equal("<carol@pf.test>", got.Headers[HeaderId.ReturnPath]);

        // Trace, newest first: Mta's hop (from Postfix's EHLO name), then Postfix's (from MailKit, with its queue id).
        var received = ReceivedFields(got);
        Assert.True(received.Count == 2, "expected two Received fields:\n" + string.Join("\n", received));
        Assert.Contains("by mta.test", received[0]);
        Assert.Contains("from postfix.pf.test", received[0]);
        Assert.Contains("[127.0.0.1]", received[0]);
        Assert.Contains("by postfix.pf.test (Postfix)", received[1]);
        Assert.Contains("from mailkit.test", received[1]);
        Assert.Contains("id " + postfixId, received[1]);

        // Byte for byte: Mta keeps CRLF line ends, so the body with its dot lines and raw UTF-8 is in the file as sent.
        var raw = File.ReadAllBytes(file);
        Assert.True(raw.AsSpan().IndexOf(Encoding.UTF8.GetBytes("\r\n\r\n" + Body)) >= 0,
            "body not found verbatim in the delivered file:\n" + Encoding.UTF8.GetString(raw));
        Assert.NotNull(got.TextBody);
        Assert.Equal(Body.Replace("\r\n", "\n"), got.TextBody.Replace("\r\n", "\n"));
        Assert.Contains("Mail queue is empty", await postfix.QueueListingAsync(Ct));
    }

    [Fact]
    public async Task Mta_relays_to_Postfix_with_envelope_trace_and_body_intact()
    {
        var postfix = fixture.Require();
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartRelayingMtaAsync(postfix, events);

        var sent = NewMessage("alice@localhost", "bob@pf.test", "Mta to Postfix");
        var mtaId = QueueIdOf(await SendAsync(mta.Port, sent));

        string file;
        try { file = Assert.Single(await postfix.WaitForMailAsync("bob", 1, DeliveryTimeout, Ct)); }
        catch (TimeoutException e) { throw new TimeoutException(e.Message + "\n" + Diagnose(postfix, events), e); }

        // virtual(8) writes the envelope sender as Return-Path and the recipient as Delivered-To.
        var text = Encoding.UTF8.GetString(File.ReadAllBytes(file));
        var got = await MimeMessage.LoadAsync(file, Ct);
        Assert.Equal("<alice@localhost>", got.Headers[HeaderId.ReturnPath]);
        Assert.Equal("bob@pf.test", got.Headers["Delivered-To"]);
        Assert.Equal("Mta to Postfix", got.Subject);
        Assert.Equal(sent.MessageId, got.MessageId);

        var received = ReceivedFields(got);
        Assert.True(received.Count == 2, "expected two Received fields:\n" + string.Join("\n", received));
        Assert.Contains("by postfix.pf.test (Postfix)", received[0]);
        Assert.Contains("from mta.test", received[0]);
        Assert.Contains("by mta.test", received[1]);
        Assert.Contains("from mailkit.test", received[1]);
        Assert.Contains("id " + mtaId, received[1]);

        // Postfix's Maildir files end lines with LF: compare with LF endings, still byte for byte in UTF-8.
        Assert.Contains("\n\n" + Body.Replace("\r\n", "\n"), text);
        Assert.NotNull(got.TextBody);
        Assert.Equal(Body.Replace("\r\n", "\n"), got.TextBody.Replace("\r\n", "\n"));
        Assert.Empty(events);
    }

    [Fact]
    public async Task Unknown_user_at_Postfix_is_bounced_back_to_the_local_sender_with_a_DSN()
    {
        var postfix = fixture.Require();
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartRelayingMtaAsync(postfix, events);

        // Mta accepts (trusted network); Postfix then refuses the recipient at RCPT with 550 5.1.1, a permanent failure.
        var sent = NewMessage("alice@localhost", "nobody@pf.test", "Will bounce");
        QueueIdOf(await SendAsync(mta.Port, sent));

        string file;
        try { file = Assert.Single(await mta.WaitForMailAsync("alice", 1, DeliveryTimeout)); }
        catch (TimeoutException e) { throw new TimeoutException(e.Message + "\n" + Diagnose(postfix, events), e); }

        var text = Encoding.UTF8.GetString(File.ReadAllBytes(file));
        Assert.Contains("multipart/report", text, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(new Regex(@"^Action:\s*failed\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase), text);
        Assert.Matches(new Regex(@"^Status:\s*5\.1\.1\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase), text);
        Assert.Matches(new Regex(@"^Final-Recipient:\s*rfc822;\s*<?nobody@pf\.test>?\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase), text);
        // RFC 3464: a DSN goes to the reverse-path with a null reverse-path of its own.
        var got = await MimeMessage.LoadAsync(file, Ct);
        Assert.Equal("<>", got.Headers[HeaderId.ReturnPath]);
        Assert.False(Directory.Exists(postfix.MaildirNew("nobody")));
    }

    [Fact]
    public async Task A_private_instance_starts_and_stops_cleanly_again_and_again()
    {
        fixture.Require();
        for (var round = 0; round < 2; round++)
        {
            var instance = await PostfixInstance.StartAsync(new PostfixSettings { HostName = $"round{round}.pf.test" }, Ct);
            int master;
            string root;
            await using (instance)
            {
                master = instance.MasterPid;
                root = instance.Root;
                Assert.True(master > 0, "no master.pid");
                Assert.NotEmpty(instance.LiveProcesses());
                Assert.Contains("Mail queue is empty", await instance.QueueListingAsync(Ct));
                // Two instances side by side: the class's own keeps running.
                Assert.NotEqual(fixture.Postfix!.SmtpPort, instance.SmtpPort);
            }
            // Disposed: the master and all its children are gone, and so is the folder.
            Assert.Empty(instance.LiveProcesses());
            Assert.False(Directory.Exists($"/proc/{master}") && !File.ReadAllText($"/proc/{master}/stat").Contains(") Z ", StringComparison.Ordinal),
                $"Postfix master {master} still running");
            Assert.False(Directory.Exists(root));
        }
        Assert.NotEmpty(fixture.Postfix!.LiveProcesses());
    }
}
