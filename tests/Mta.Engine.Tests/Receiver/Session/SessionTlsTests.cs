// The command table's TLS column over in-memory sessions: what needs TLS, what only runs before it, and what TLS resets.
using Mta.Engine.Configuration;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionTlsTests
{
    private static InMemorySmtpServer StartTlsServer() => InMemorySmtpServer.Create(o => o.Listeners[0].Tls = ListenerTlsMode.StartTls);

    [Fact]
    public async Task AUTH_before_STARTTLS_gets_538_and_after_it_is_taken()
    {
        await using var server = StartTlsServer();
        await using var c = await server.ConnectAsync();
        var ehlo = ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("STARTTLS", ehlo.Lines);
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
        ReplyAssert.Is(await c.CommandAsync("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), 538, "5.7.11");
        ReplyAssert.Is(await c.CommandAsync("STARTTLS"), 220, "2.0.0", "Ready to start TLS");
        await c.StartTlsAsync();
        // RFC 3207 4.2: the greeting is forgotten inside TLS.
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 503, "5.5.1", "Send HELO or EHLO first");
        ReplyAssert.Is(await c.CommandAsync("AUTH CRAM-MD5"), 503, "5.5.1", "Send EHLO first");
        var again = ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("STARTTLS", again.Lines);
        Assert.Contains(again.Lines, l => l.StartsWith("AUTH ", StringComparison.Ordinal));
        // Past the TLS column: the mechanism is what is refused now.
        ReplyAssert.Is(await c.CommandAsync("AUTH CRAM-MD5"), 504, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("STARTTLS"), 503, "5.5.1", "TLS already active");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250, "2.0.0");
    }

    [Fact]
    public async Task Commands_pipelined_behind_STARTTLS_are_dropped_not_run_inside_TLS()
    {
        await using var server = StartTlsServer();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        // CVE-2011-0411: the MAIL sent in clear text behind STARTTLS must never count as sent inside TLS.
        await c.SendAsync("STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n");
        ReplyAssert.Is(await c.ReadReplyAsync(), 220, "2.0.0");
        await c.StartTlsAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1", "Need MAIL command");
    }
}
