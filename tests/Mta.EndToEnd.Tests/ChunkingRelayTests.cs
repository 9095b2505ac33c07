// Relaying with BDAT (RFC 3030) end to end: Mta accepts over SMTP and relays to a CHUNKING test peer; refused chunks defer or bounce.
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Testing;
using Mta.Engine.Control;

namespace Mta.EndToEnd.Tests;

public sealed class ChunkingRelayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestSmtpServerOptions Chunking() =>
        new() { Extensions = ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING"] };

    private static Task<MtaTestServer> StartMtaAsync(TestSmtpServer peer, Action<MtaOptions>? configure = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Relay.Routes["remote.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectRetryDelay = TimeSpan.Zero;
            configure?.Invoke(o);
        });

    /// <summary>Sends <paramref name="body"/> (dot-stuffed here for DATA) from alice to bob@remote.test.</summary>
    private static async Task SendAsync(MtaTestServer server, string message)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var stuffed = message.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"], stuffed), 250, "2.0.0", "queued as");
    }

    private static string Message(int bodyLines)
    {
        var sb = new StringBuilder("Subject: chunked\r\nMessage-ID: <c1@example.test>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n");
        for (var i = 0; i < bodyLines; i++) sb.Append(i % 7 == 0 ? "." : "").Append("line ").Append(i).Append(' ').Append('x', i % 90).Append("\r\n");
        return sb.Append("last line\r\n").ToString();
    }

    private static string DeliveryStatus(MimeMessage dsn)
    {
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        using var text = new MemoryStream();
        status.Content!.DecodeTo(text);
        return Encoding.UTF8.GetString(text.ToArray());
    }

    [Fact]
    public async Task Relayed_message_goes_by_bdat_as_the_spool_holds_it()
    {
        await using var peer = await TestSmtpServer.StartAsync(Chunking());
        await using var server = await StartMtaAsync(peer);
        // About 800 KiB: four chunks of 256 KiB at most.
        var message = Message(14000);
        await SendAsync(server, message);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(30));

        var received = Assert.Single(peer.Received);
        Assert.True(received.Chunked);
        Assert.True(received.BdatChunks!.Count >= 3, $"{received.BdatChunks.Count} chunks");
        Assert.DoesNotContain("DATA", peer.Commands);
        // Mta's trace field goes on top; the rest is the message as accepted, dots unstuffed and not stuffed again.
        var data = received.DataText;
        Assert.StartsWith("Received: ", data, StringComparison.Ordinal);
        Assert.EndsWith("\r\n" + message, data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Use_chunking_off_relays_with_data()
    {
        await using var peer = await TestSmtpServer.StartAsync(Chunking());
        await using var server = await StartMtaAsync(peer, o => o.Relay.UseChunking = false);
        var message = Message(10);
        await SendAsync(server, message);
        await peer.WaitForTransactionsAsync(1, TimeSpan.FromSeconds(30));

        var received = Assert.Single(peer.Received);
        Assert.False(received.Chunked);
        Assert.Contains("DATA", peer.Commands);
        Assert.EndsWith("\r\n" + message, received.DataText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Permanently_refused_chunk_bounces_with_the_remote_reply()
    {
        var options = Chunking();
        options.BdatReply = c => c.Index == 2 ? "552 5.3.4 Message size exceeds fixed limit" : null;
        await using var peer = await TestSmtpServer.StartAsync(options);
        await using var server = await StartMtaAsync(peer);
        await SendAsync(server, Message(14000));

        var dsn = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("alice")), Ct);
        var status = DeliveryStatus(dsn);
        Assert.Contains("Final-Recipient: rfc822; bob@remote.test", status, StringComparison.Ordinal);
        Assert.Contains("Status: 5.3.4", status, StringComparison.Ordinal);
        Assert.Contains("Diagnostic-Code: smtp; 552 5.3.4 Message size exceeds fixed limit", status, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
        Assert.Contains("RSET", peer.Commands);
    }

    [Fact]
    public async Task Temporarily_refused_chunk_defers_with_the_remote_reply()
    {
        var options = Chunking();
        options.BdatReply = _ => "452 4.3.1 Insufficient system storage";
        await using var peer = await TestSmtpServer.StartAsync(options);
        await using var server = await StartMtaAsync(peer);
        await SendAsync(server, Message(10));

        var queue = server.Services.GetRequiredService<QueueAdministration>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string? lastError = null;
        while (DateTime.UtcNow < deadline)
        {
            var rcpt = queue.List().SingleOrDefault()?.Recipients.SingleOrDefault();
            if (rcpt is { State: QueueRecipientState.Deferred })
            {
                lastError = rcpt.LastError;
                break;
            }
            await Task.Delay(50, Ct);
        }
        Assert.NotNull(lastError);
        Assert.Contains("452 4.3.1 Insufficient system storage (in reply to BDAT LAST command)", lastError, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
        Assert.False(Directory.Exists(server.MaildirNew("alice")), "no bounce for a temporary failure");
    }
}
