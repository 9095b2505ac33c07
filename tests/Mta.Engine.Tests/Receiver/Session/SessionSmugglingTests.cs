// SMTP smuggling over an in-memory session: a fake end of data split across writes stays data.
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionSmugglingTests
{
    [Fact]
    public async Task Smuggled_sequence_split_across_writes_is_still_data()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("DATA"), 354);
        // Byte-at-a-time around the fake terminator so that no read boundary can help.
        foreach (var piece in new[] { "Subject: split\r\n\r\ntext\r", "\n", ".", "\n", "MAIL FROM:<evil@x.test>\r\n", "more\r\n.\r\n" })
            await c.SendAsync(piece);
        ReplyAssert.Is(await c.ReadReplyAsync(), 554, "5.6.0");
        ReplyAssert.Is(await c.CommandAsync("HELP"), 214);
    }
}
