// Every command's reply over an in-memory session: EHLO keywords, RFC 821 commands, bad syntax, over-long lines, error budget.
using System.Text;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionCommandTests
{
    [Fact]
    public async Task EHLO_lists_exactly_the_offered_extensions()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        var ehlo = ReplyAssert.Is(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Equal("mta.test Hello client.test [127.0.0.1]", ehlo.Lines[0]);
        var keywords = ehlo.Lines.Skip(1).ToList();
        Assert.Equal(["SIZE 10485760", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING", "BINARYMIME", "HELP"], keywords);
        // Not offered, so not advertised.
        Assert.DoesNotContain(keywords, k => k.StartsWith("STARTTLS") || k.StartsWith("AUTH"));
    }

    [Fact]
    public async Task HELP_VRFY_EXPN_have_their_RFC_replies()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        var help = ReplyAssert.Is(await c.CommandAsync("HELP"), 214);
        Assert.True(help.Lines.Count > 1, "HELP should be multi-line: " + help);
        var helpMail = ReplyAssert.Is(await c.CommandAsync("HELP MAIL"), 214);
        Assert.Contains("MAIL FROM:", helpMail.Text);
        ReplyAssert.Is(await c.CommandAsync("VRFY x"), 252, "2.5.0");
        ReplyAssert.Is(await c.CommandAsync("EXPN x"), 252, "2.5.0");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task TURN_SEND_SOML_SAML_are_not_implemented_here()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("TURN"), 502, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("SEND FROM:<a@b.test>"), 502, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("SOML FROM:<a@b.test>"), 502, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("SAML FROM:<a@b.test>"), 502, "5.5.1");
        // None of them opened a transaction.
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@b.test>"), 250);
    }

    [Fact]
    public async Task Unknown_verb_gets_500_and_the_session_goes_on()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("XYZZY plugh"), 500, "5.5.2");
        ReplyAssert.Is(await c.CommandAsync("MAILFROM:<a@b.test>"), 500, "5.5.2");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task Bad_arguments_get_501_or_555_and_the_session_goes_on()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        ReplyAssert.Is(await c.CommandAsync("HELO"), 501, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("EHLO"), 501, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("EHLO bad..name"), 501, "5.5.4");
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:a@b.test"), 501);
        ReplyAssert.Is(await c.CommandAsync("MAIL TO:<a@b.test>"), 501);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@b.test> FOO=BAR"), 555, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@b.test> SIZE=abc"), 501, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@b.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<>"), 501);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:alice@example.test"), 501);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test> FOO"), 555, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("DATA x"), 501, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("RSET now"), 501, "5.5.4");
        ReplyAssert.Is(await c.CommandAsync("VRFY"), 501, "5.5.4");
        // Still in the same transaction: DATA works.
        ReplyAssert.Is(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: after-errors\r\n\r\nok\r\n.\r\n");
        ReplyAssert.Is(await c.ReadReplyAsync(), 250);
    }

    [Fact]
    public async Task Command_line_of_512_octets_is_accepted_and_513_gets_500_5_5_6()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        var ok = "NOOP " + new string('x', 512 - 5 - 2);
        Assert.Equal(512, ok.Length + 2);
        ReplyAssert.Is(await c.CommandAsync(ok), 250);
        var tooLong = "NOOP " + new string('x', 513 - 5 - 2);
        Assert.Equal(513, tooLong.Length + 2);
        ReplyAssert.Is(await c.CommandAsync(tooLong), 500, "5.5.6");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task Ten_kilobyte_line_gets_one_500_and_the_session_goes_on()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        // A long MAIL line must not be executed either (its tail must not be read as a command).
        await c.SendAsync("MAIL FROM:<" + new string('a', 10 * 1024) + "@b.test>\r\nNOOP\r\n");
        ReplyAssert.Is(await c.ReadReplyAsync(), 500, "5.5.6");
        ReplyAssert.Is(await c.ReadReplyAsync(), 250, "2.0.0");
        // No transaction was opened by the over-long MAIL.
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("HELP"), 214);
    }

    [Fact]
    public async Task Line_with_NUL_gets_500()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        await c.SendAsync(Encoding.ASCII.GetBytes("NOOP a\0b\r\n"));
        ReplyAssert.Is(await c.ReadReplyAsync(), 500, "5.5.2");
        await c.SendAsync(Encoding.ASCII.GetBytes("MAIL FROM:<a\0@b.test>\r\n"));
        ReplyAssert.Is(await c.ReadReplyAsync(), 500, "5.5.2");
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task STARTTLS_AUTH_ETRN_are_refused_and_the_session_goes_on()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("STARTTLS"), 502, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("ETRN example.test"), 502, "5.5.1");
        // The plaintext session is still usable (no TLS layer was started).
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task BDAT_chunk_bytes_are_consumed_not_executed()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        await c.SendAsync("BDAT 6\r\nNOOP\r\n");
        await c.SendAsync("NOOP\r\n");
        ReplyAssert.Is(await c.ReadReplyAsync(), 503, "5.5.1");
        ReplyAssert.Is(await c.ReadReplyAsync(), 250, "2.0.0");
        // If the chunk's "NOOP" had been executed, a second 250 would come before HELP's 214.
        ReplyAssert.Is(await c.CommandAsync("HELP"), 214);

        // The chunk may contain what looks like commands in a transaction, and they still do nothing.
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        const string chunk = "RCPT TO:<alice@example.test>\r\n";
        await c.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        ReplyAssert.Is(await c.ReadReplyAsync(), 503, "5.5.1");
        ReplyAssert.Is(await c.CommandAsync("DATA"), 503, "5.5.1");
    }

    [Fact]
    public async Task Twenty_errors_end_the_session_with_421()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        for (var i = 1; i < 20; i++)
            ReplyAssert.Is(await c.CommandAsync($"BOGUS{i}"), 500, "5.5.2");
        ReplyAssert.Is(await c.CommandAsync("BOGUS20"), 500, "5.5.2");
        ReplyAssert.Is(await c.ReadReplyAsync(), 421, "4.7.0");
        Assert.True(await c.IsClosedByServerAsync(), "server kept the connection open after 421");
    }
}
