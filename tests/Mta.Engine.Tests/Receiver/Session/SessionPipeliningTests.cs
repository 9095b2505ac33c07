// Pipelined groups over an in-memory session (RFC 2920): each command answered on its own, in order.
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionPipeliningTests
{
    [Fact]
    public async Task Group_whose_only_RCPT_is_rejected_gets_554_for_DATA()
    {
        // RFC 2920 3.1: the server must refuse the pipelined DATA when no recipient was accepted.
        await using var server = InMemorySmtpServer.Create(o => { o.Mailboxes.Users = ["alice"]; o.Mailboxes.AcceptAnyLocalPart = false; });
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        await c.SendAsync("MAIL FROM:<a@x.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n");
        ReplyAssert.Is(await c.ReadReplyAsync(), 250);
        ReplyAssert.Is(await c.ReadReplyAsync(), 550, "5.1.1");
        ReplyAssert.Is(await c.ReadReplyAsync(), 554, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }
}
