// CHUNKING and BINARYMIME (RFC 3030) in the receiver: BDAT chunks, their replies, refusals that keep the session in step.
using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ChunkingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<RawSmtpClient> TransactionAsync(MtaTestServer server, string mailParameters = "")
    {
        var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>" + mailParameters), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        return c;
    }

    private static byte[] Bdat(string chunk, bool last = false) => Bdat(Encoding.UTF8.GetBytes(chunk), last);

    private static byte[] Bdat(byte[] chunk, bool last = false) =>
        [.. Encoding.ASCII.GetBytes($"BDAT {chunk.Length}{(last ? " LAST" : "")}\r\n"), .. chunk];

    private static async Task<byte[]> DeliveredAsync(MtaTestServer server) =>
        SmtpAssert.ReadBytes(Assert.Single(await server.WaitForMailAsync("alice")));

    [Fact]
    public async Task Chunks_are_acknowledged_with_their_size_and_LAST_queues_the_message_unchanged()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await TransactionAsync(server);
        const string part1 = "Subject: chunked\r\nFrom: <sender@remote.test>\r\n\r\n";
        const string part2 = ".a line with a leading dot stays as it is\r\n.\r\n";
        await c.SendAsync(Bdat(part1));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", $"{part1.Length} octets received");
        await c.SendAsync(Bdat(part2, last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        var delivered = Encoding.UTF8.GetString(await DeliveredAsync(server));
        Assert.EndsWith(part1 + part2, delivered);
        // The session goes on with a new transaction.
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
    }

    [Fact]
    public async Task Pipelined_chunks_get_one_reply_each_in_order()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        await c.SendAsync([
            .. "MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"u8,
            .. Bdat("Subject: piped\r\n"), .. Bdat("\r\nbody: RSET\r\n"), .. Bdat("QUIT\r\n", last: true),
            .. "NOOP\r\n"u8]);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "16 octets received");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "14 octets received");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "Ok");
        Assert.EndsWith("Subject: piped\r\n\r\nbody: RSET\r\nQUIT\r\n", Encoding.UTF8.GetString(await DeliveredAsync(server)));
    }

    [Fact]
    public async Task BDAT_0_LAST_ends_the_message()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await TransactionAsync(server);
        await c.SendAsync(Bdat("Subject: zero\r\n\r\nbody\r\n"));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "octets received");
        SmtpAssert.Reply(await c.CommandAsync("BDAT 0 LAST"), 250, "2.0.0", "queued as");
        Assert.EndsWith("Subject: zero\r\n\r\nbody\r\n", Encoding.UTF8.GetString(await DeliveredAsync(server)));
    }

    [Fact]
    public async Task BDAT_out_of_sequence_and_DATA_after_BDAT_get_503_and_the_chunk_is_never_run()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        await c.SendAsync(Bdat("QUIT\r\n", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 503, "5.5.1", "MAIL");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        await c.SendAsync(Bdat("QUIT\r\n"));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 503, "5.5.1", "RCPT");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        await c.SendAsync(Bdat("Subject: mixed\r\n\r\n"));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 503, "5.5.1", "after BDAT");
        // The transaction is still open: its last chunk completes it.
        await c.SendAsync(Bdat("body\r\n", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
    }

    [Fact]
    public async Task An_oversize_chunk_gets_552_after_it_is_consumed_and_the_transaction_ends()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxMessageSize = 64 * 1024);
        await using var c = await TransactionAsync(server);
        var big = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 98) + "\r\n", 700)));
        // The chunk's content looks like commands at every line start: none may run.
        await c.SendAsync(Bdat(big));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 552, "5.3.4");
        await c.SendAsync(Bdat("more\r\n", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task NUL_is_refused_in_DATA_and_in_text_chunks_but_kept_in_BINARYMIME()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await TransactionAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: nul\r\n\r\na\0b\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.6.0", "NUL");

        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test> BODY=8BITMIME"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        await c.SendAsync(Bdat("Subject: nul\r\n\r\na\0b\r\n", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.6.0", "NUL");

        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test> BODY=BINARYMIME"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 503, "5.5.1", "BINARYMIME");
        byte[] binary = [.. "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n"u8, 0, 1, 2, (byte)'\n', 0xFF, (byte)'\r', 0];
        await c.SendAsync(Bdat(binary, last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        var delivered = await DeliveredAsync(server);
        Assert.Equal(binary, delivered[^binary.Length..]);
    }

    [Fact]
    public async Task Header_limits_still_apply_to_BINARYMIME()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxHeaderFields = 10);
        await using var c = await TransactionAsync(server, " BODY=BINARYMIME");
        var fields = string.Concat(Enumerable.Range(0, 11).Select(i => $"X-{i}: {i}\r\n"));
        await c.SendAsync(Bdat(fields + "\r\n\0", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 552, "5.3.4");
    }

    [Fact]
    public async Task With_chunking_off_nothing_is_advertised_BINARYMIME_gets_555_and_BDAT_502()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.Data.Chunking = false);
        await using var c = await SmtpAssert.ConnectAsync(server);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain(ehlo.Lines, l => l is "CHUNKING" or "BINARYMIME");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test> BODY=BINARYMIME"), 555, "5.5.4");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        await c.SendAsync(Bdat("NOOP\r\n", last: true));
        SmtpAssert.Reply(await c.ReadReplyAsync(), 502, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("HELP"), 214);
    }

    [Fact]
    public async Task A_HELO_session_is_offered_no_BINARYMIME()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("HELO client.test"), 250);
        var refused = await c.CommandAsync("MAIL FROM:<sender@remote.test> BODY=BINARYMIME");
        Assert.Equal(555, refused.Code);
    }

    [Fact]
    public async Task MailKit_sends_a_binary_message_with_BDAT_and_BINARYMIME()
    {
        await using var server = await MtaTestServer.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@remote.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = "binary";
        var payload = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        message.Body = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(payload)),
            ContentTransferEncoding = ContentEncoding.Binary,
            FileName = "payload.bin",
        };
        var log = new MemoryStream();
        using (var client = new SmtpClient(new ProtocolLogger(log, leaveOpen: true)) { Timeout = 15_000, LocalDomain = "mailkit.test" })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.BinaryMime));
            await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
        }
        var transcript = Encoding.UTF8.GetString(log.ToArray());
        Assert.Contains("BODY=BINARYMIME", transcript);
        Assert.Contains("BDAT ", transcript);
        var delivered = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("alice")), Ct);
        var part = Assert.IsType<MimePart>(delivered.Body);
        using var content = new MemoryStream();
        await part.Content.DecodeToAsync(content, Ct);
        Assert.Equal(payload, content.ToArray());
    }
}
