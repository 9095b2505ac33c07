// Command order (RFC 5321 4.1.4, 4.3.2) over an in-memory session: out-of-sequence commands get 503, and the session goes on.
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionSequencingTests
{
    [Fact]
    public async Task MAIL_before_HELO_is_a_bad_sequence()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250, "2.0.0");
    }

    [Fact]
    public async Task RCPT_and_DATA_before_MAIL_are_bad_sequences()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("DATA"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250, "2.0.0");
    }

    [Fact]
    public async Task DATA_after_MAIL_without_RCPT_is_a_bad_sequence()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("DATA"), 503, "5.5.1");
        // The transaction is still open: a recipient can still be added.
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250, "2.1.5");
        ReplyAssert.Is(await c.CommandAsync("DATA"), 354);
    }

    [Fact]
    public async Task DATA_after_every_RCPT_was_rejected_gets_554_no_valid_recipients()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<someone@elsewhere.test>"), 554, "5.7.1");
        ReplyAssert.Is(await c.CommandAsync("DATA"), 554, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task EHLO_in_the_middle_of_a_transaction_resets_it()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("EHLO again.test"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("DATA"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
    }

    [Fact]
    public async Task QUIT_gets_221_and_the_server_closes()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("QUIT"), 221, "2.0.0", "mta.test");
        Assert.True(await c.IsClosedByServerAsync(), "server kept the connection open after QUIT");
    }
}
