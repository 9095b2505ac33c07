// SMTP client with CHUNKING (RFC 3030) against the scriptable test server: BDAT byte for byte, pipelining, chunk replies, BINARYMIME.
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Protocol;
using Mta.Testing;
using static Mta.Engine.Tests.Outbound.Client.ClientHarness;

namespace Mta.Engine.Tests.Outbound.Client;

public sealed class SmtpClientChunkingTests
{
    private const int Chunk = SmtpClientConnection.BdatChunkSize;

    private static TestSmtpServerOptions Options(bool pipelining = true, bool binaryMime = false)
    {
        List<string> extensions = ["SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING"];
        if (pipelining) extensions.Insert(0, "PIPELINING");
        if (binaryMime) extensions.Add("BINARYMIME");
        return new TestSmtpServerOptions { Extensions = extensions };
    }

    private static ConnectionSettings NoChunking() => Settings() with { UseChunking = false };

    /// <summary>Bytes of every value, lines of every length, dots at line starts: nothing may be stuffed or changed.</summary>
    private static TestMessage Large(int size)
    {
        var bytes = new byte[size];
        var header = "Subject: large\r\n\r\n"u8;
        header.CopyTo(bytes);
        var random = new Random(1234);
        for (var i = header.Length; i < size; i++)
        {
            var r = random.Next(100);
            bytes[i] = r < 3 ? (byte)'\r' : r < 6 ? (byte)'\n' : r < 10 ? (byte)'.' : (byte)random.Next(32, 127);
        }
        return new TestMessage(bytes);
    }

    [Fact]
    public async Task Plain_message_goes_by_bdat_byte_for_byte_without_dot_stuffing()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        // Lines starting with a dot, a lone dot, and no final line break: BDAT sends all of it exactly as spooled.
        var message = Message("Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend without line break");
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            Assert.True(client.Capabilities.Chunking);
            var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);

            Assert.All(result.Recipients, r => Assert.Equal(RecipientStatus.Delivered, r.Status));
            Assert.StartsWith($"test.local[127.0.0.1] said: 250 2.0.0 Ok: {message.Size} octets, queued as ", result.Recipients[0].Detail);
            Assert.True(client.IsUsable);
        }

        var received = Assert.Single(server.Received);
        Assert.Equal(message.Bytes, received.Data);
        Assert.Equal([new BdatChunk(1, message.Size, true)], received.BdatChunks);
        Assert.DoesNotContain("DATA", server.Commands);
        // PIPELINING: MAIL, every RCPT and the one chunk in one write (RFC 2920, RFC 3030 4.2).
        var group = Assert.Single(server.CommandBatches, b => b[0].StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Equal(["MAIL FROM:<sender@example.org> SIZE=" + message.Size, "RCPT TO:<a@example.net>", "RCPT TO:<b@example.net>",
            $"BDAT {message.Size} LAST"], group);
        Assert.Equal("QUIT", server.Commands[^1]);
    }

    [Fact]
    public async Task Without_pipelining_each_command_and_chunk_waits_for_its_reply()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options(pipelining: false));
        var message = Large(Chunk + 1000);
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
            Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        }
        Assert.All(server.CommandBatches, b => Assert.Single(b));
        Assert.Equal(["EHLO client.test", "MAIL FROM:<sender@example.org> SIZE=" + message.Size, "RCPT TO:<a@example.net>",
            $"BDAT {Chunk}", "BDAT 1000 LAST", "QUIT"], server.Commands);
        Assert.Equal(message.Bytes, Assert.Single(server.Received).Data);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Large_message_goes_in_several_chunks_intact(bool pipelining)
    {
        using var cts = Bound(40);
        await using var server = await TestSmtpServer.StartAsync(Options(pipelining));
        var message = Large(5 * Chunk + 12_345);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);

        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        var received = Assert.Single(server.Received);
        Assert.Equal(message.Bytes, received.Data);
        Assert.Equal([.. Enumerable.Range(1, 5).Select(i => new BdatChunk(i, Chunk, false)), new BdatChunk(6, 12_345, true)], received.BdatChunks);
        if (pipelining)
        {
            // The first chunk went in MAIL's group; the later ones without waiting for each reply: some arrived
            // buffered behind the one before.
            var group = Assert.Single(server.CommandBatches, b => b[0].StartsWith("MAIL", StringComparison.Ordinal));
            Assert.Equal(["MAIL FROM:<sender@example.org> SIZE=" + message.Size, "RCPT TO:<a@example.net>", $"BDAT {Chunk}"], group.Take(3));
            Assert.Contains(server.CommandBatches, b => b.Count(l => l.StartsWith("BDAT", StringComparison.Ordinal)) >= 2);
        }
        Assert.True(client.IsUsable);
    }

    [Fact]
    public async Task Message_of_exactly_whole_chunks_ends_with_a_full_last_chunk()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = Large(2 * Chunk);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);

        var received = Assert.Single(server.Received);
        Assert.Equal(message.Bytes, received.Data);
        Assert.Equal([new BdatChunk(1, Chunk, false), new BdatChunk(2, Chunk, true)], received.BdatChunks);
    }

    [Fact]
    public async Task Empty_message_is_one_empty_last_chunk()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = Message("");
        await using var client = await OpenAsync(server, null, null, cts.Token);
        await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        Assert.Contains("BDAT 0 LAST", server.Commands);
        Assert.Empty(Assert.Single(server.Received).Data);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Each_recipient_gets_its_own_rcpt_reply(bool pipelining)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.RcptReply = a => a == "bad@example.net" ? "550 5.1.1 no such user" : null;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "ok@example.net", "bad@example.net"), message, cts.Token);

        Assert.Equal([RecipientStatus.Delivered, RecipientStatus.Failed], result.Recipients.Select(r => r.Status));
        Assert.EndsWith("(in reply to RCPT TO command)", result.Recipients[1].Detail);
        Assert.Equal(["ok@example.net"], Assert.Single(server.Received).Recipients);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task No_recipient_accepted_sends_no_more_chunks_and_resets(bool pipelining)
    {
        using var cts = Bound();
        var options = Options(pipelining);
        options.RcptReply = _ => "550 5.1.1 no such user";
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Large(3 * Chunk);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "x@example.net", "y@example.net"), message, cts.Token);

        Assert.All(result.Recipients, r => Assert.Equal(RecipientStatus.Failed, r.Status));
        Assert.All(result.Recipients, r => Assert.EndsWith("(in reply to RCPT TO command)", r.Detail));
        // Pipelined, the first chunk went with the RCPTs (RFC 3030 4.2 allows it); nothing after it.
        Assert.Equal(pipelining ? 1 : 0, server.Commands.Count(c => c.StartsWith("BDAT", StringComparison.Ordinal)));
        Assert.Equal("RSET", server.Commands[^1]);
        Assert.True(client.IsUsable);
        Assert.Empty(server.Received);
    }

    [Theory]
    [InlineData(true, "452 4.3.1 Insufficient system storage", RecipientStatus.Deferred)]
    [InlineData(true, "552 5.3.4 Message too big for system", RecipientStatus.Failed)]
    [InlineData(false, "452 4.3.1 Insufficient system storage", RecipientStatus.Deferred)]
    [InlineData(false, "552 5.3.4 Message too big for system", RecipientStatus.Failed)]
    public async Task Refused_chunk_ends_the_transaction_with_rset(bool pipelining, string reply, RecipientStatus expected)
    {
        using var cts = Bound(40);
        var options = Options(pipelining);
        options.BdatReply = c => c.Index == 2 ? reply : null;
        options.RcptReply = a => a == "bad@example.net" ? "550 5.1.1 no such user" : null;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Large(10 * Chunk);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net", "bad@example.net", "b@example.net"), message, cts.Token);

        Assert.Equal([expected, RecipientStatus.Failed, expected], result.Recipients.Select(r => r.Status));
        Assert.Equal($"host test.local[127.0.0.1] said: {reply} (in reply to BDAT command)", result.Recipients[0].Detail);
        Assert.Equal(reply[..3], result.Recipients[2].Reply!.Code.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.EndsWith("(in reply to RCPT TO command)", result.Recipients[1].Detail);
        // RFC 3030 4.2: nothing after the refusal (pipelined, at most the chunks already on their way), no LAST, then RSET.
        var chunks = server.Commands.Count(c => c.StartsWith("BDAT", StringComparison.Ordinal));
        Assert.InRange(chunks, 2, pipelining ? 6 : 2);
        Assert.DoesNotContain(server.Commands, c => c.EndsWith("LAST", StringComparison.Ordinal));
        Assert.Equal("RSET", server.Commands[^1]);
        Assert.True(client.IsUsable);
        Assert.Empty(server.Received);

        // The connection goes on: the next transaction is delivered whole.
        options.BdatReply = null;
        var next = Message();
        var second = await client.SendAsync(Envelope(next, "a@example.net"), next, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, Assert.Single(second.Recipients).Status);
        Assert.Equal(next.Bytes, Assert.Single(server.Received).Data);
    }

    [Theory]
    [InlineData("451 4.3.0 Queue file write error", RecipientStatus.Deferred)]
    [InlineData("554 5.6.0 Message content rejected", RecipientStatus.Failed)]
    public async Task Reply_to_the_last_chunk_decides_the_message(string reply, RecipientStatus expected)
    {
        using var cts = Bound();
        var options = Options();
        options.FinalReply = _ => reply;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Large(Chunk + 10);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);

        Assert.All(result.Recipients, r => Assert.Equal(expected, r.Status));
        Assert.All(result.Recipients, r => Assert.Equal($"host test.local[127.0.0.1] said: {reply} (in reply to BDAT LAST command)", r.Detail));
        Assert.DoesNotContain("RSET", server.Commands);
        Assert.True(client.IsUsable);
    }

    [Fact]
    public async Task A_421_to_a_chunk_defers_and_ends_the_connection()
    {
        using var cts = Bound();
        var options = Options();
        options.BdatReply = c => c.Index == 1 ? "421 4.3.2 Service shutting down" : null;
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Large(3 * Chunk);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);

        var r = Assert.Single(result.Recipients);
        Assert.Equal(RecipientStatus.Deferred, r.Status);
        Assert.Equal(421, r.Reply!.Code);
        Assert.False(client.IsUsable);
    }

    [Fact]
    public async Task Peer_without_chunking_gets_data()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message("Subject: dots\r\n\r\n.hidden\r\n");
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            Assert.False(client.Capabilities.Chunking);
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        var received = Assert.Single(server.Received);
        Assert.False(received.Chunked);
        Assert.Equal(message.Bytes, received.Data);
        Assert.Contains("DATA", server.Commands);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("BDAT", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Chunking_turned_off_sends_data_to_a_peer_that_offers_it()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = Message();
        await using (var client = await OpenAsync(server, NoChunking(), null, cts.Token))
        {
            Assert.True(client.Capabilities.Chunking);
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        Assert.False(Assert.Single(server.Received).Chunked);
        Assert.Contains("DATA", server.Commands);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("BDAT", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Binarymime_goes_by_bdat_to_a_peer_that_offers_it()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options(binaryMime: true));
        // NUL, bare CR and LF, a lone dot line and 8-bit octets: a binary body travels untouched.
        byte[] body = [.. "Subject: binary\r\nContent-Transfer-Encoding: binary\r\n\r\n"u8, 0, 1, 2, 0xFF, 0xFE, (byte)'\n', (byte)'.', (byte)'\r',
            (byte)'\n', (byte)'.', (byte)'\r', (byte)'\n', (byte)'\r', 0, (byte)'x'];
        var message = new TestMessage(body);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net") with { Body = BodyType.BinaryMime }, message, cts.Token);

        Assert.Equal(RecipientStatus.Delivered, Assert.Single(result.Recipients).Status);
        var received = Assert.Single(server.Received);
        Assert.Equal($"MAIL FROM:<sender@example.org> SIZE={message.Size} BODY=BINARYMIME", received.MailLine);
        Assert.True(received.Chunked);
        Assert.Equal(body, received.Data);
    }

    [Theory]
    [InlineData(true, false, "does not offer BINARYMIME")]
    [InlineData(false, true, "does not offer CHUNKING")]
    [InlineData(false, false, "does not offer BINARYMIME and CHUNKING")]
    public async Task Binarymime_fails_with_5_6_3_when_the_peer_lacks_it(bool chunking, bool binaryMime, string why)
    {
        using var cts = Bound();
        List<string> extensions = ["PIPELINING", "8BITMIME"];
        if (chunking) extensions.Add("CHUNKING");
        if (binaryMime) extensions.Add("BINARYMIME");
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = extensions });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net") with { Body = BodyType.BinaryMime }, message, cts.Token);

        var r = Assert.Single(result.Recipients);
        Assert.Equal(RecipientStatus.Failed, r.Status);
        Assert.Null(r.Reply);
        Assert.Equal($"5.6.3 message requires BINARYMIME (binary body, RFC 3030), but test.local[127.0.0.1] {why}", r.Detail);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.True(client.IsUsable);
    }

    [Fact]
    public async Task Binarymime_fails_with_5_6_3_when_chunking_is_turned_off()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options(binaryMime: true));
        var message = Message();
        await using var client = await OpenAsync(server, NoChunking(), null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net") with { Body = BodyType.BinaryMime }, message, cts.Token);

        var r = Assert.Single(result.Recipients);
        Assert.Equal(RecipientStatus.Failed, r.Status);
        Assert.StartsWith("5.6.3 ", r.Detail);
        Assert.Contains("Relay:UseChunking", r.Detail);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connection_is_reused_for_several_chunked_transactions()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var first = Large(Chunk + 7);
        var second = Message("Subject: two\r\n\r\n.2\r\n");
        await using (var client = await OpenAsync(server, null, null, cts.Token))
        {
            await client.SendAsync(Envelope(first, "a@example.net"), first, cts.Token);
            Assert.True(await client.ResetAsync(cts.Token));
            await client.SendAsync(Envelope(second, "b@example.net"), second, cts.Token);
            Assert.Equal(2, client.TransactionCount);
            Assert.True(client.IsUsable);
        }
        Assert.Equal(1, server.ConnectionCount);
        Assert.Equal([first.Bytes, second.Bytes], server.Received.Select(r => r.Data));
    }

    [Fact]
    public async Task Content_read_error_in_the_first_chunk_costs_nothing_on_the_wire()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = new FailingMessage(Chunk / 2);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = new OutboundEnvelope(Address("sender@example.org"), [new OutboundRecipient(Address("a@example.net"))], message.Size);
        await Assert.ThrowsAsync<IOException>(() => client.SendAsync(envelope, message, cts.Token));
        Assert.True(client.IsUsable);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Content_read_error_after_some_chunks_abandons_the_connection_without_last()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = new FailingMessage(2 * Chunk + 100);
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var envelope = new OutboundEnvelope(Address("sender@example.org"), [new OutboundRecipient(Address("a@example.net"))], message.Size);
        await Assert.ThrowsAsync<IOException>(() => client.SendAsync(envelope, message, cts.Token));
        Assert.False(client.IsUsable);
        await client.DisposeAsync();
        Assert.DoesNotContain(server.Commands, c => c.EndsWith("LAST", StringComparison.Ordinal));
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Chunk_traffic_is_logged_without_the_message()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(Options());
        var message = Message("Subject: secret-subject\r\n\r\nsecret body\r\n");
        var logger = new CapturingLogger();
        await using (var client = await OpenAsync(server, null, logger, cts.Token))
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        Assert.Contains(logger.Lines, l => l.Contains($"> BDAT {message.Size} LAST", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains($"sent {message.Size} octets to test.local[127.0.0.1] in 1 BDAT chunk(s)", StringComparison.Ordinal));
        Assert.DoesNotContain("secret", logger.All, StringComparison.Ordinal);
    }
}
