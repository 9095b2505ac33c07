// Large messages stream to a body file in the queue directory while they arrive; the in-flight budget answers 451 4.3.1.
using System.Text;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class StreamingDataTests
{
    private static string LargeBody(int lines) =>
        string.Concat(Enumerable.Range(0, lines).Select(i => $"line {i:D7} " + new string((char)('a' + i % 26), 80) + "\r\n"));

    private static async Task WaitForFileAsync(string directory, string pattern, bool present)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((Directory.Exists(directory) && Directory.GetFiles(directory, pattern).Length > 0) != present)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{pattern} in {directory}: still {(present ? "absent" : "present")}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_large_message_is_written_to_disk_as_it_arrives_and_delivered_byte_for_byte()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        // A forged result for this server's authserv-id at the top: removed from the head without rewriting the file.
        var original = "Subject: big\r\nFrom: <sender@remote.test>\r\n\r\n" + LargeBody(20_000);
        await c.SendAsync("Authentication-Results: mta.test; dkim=pass header.d=bank.test\r\n" + original);
        // Before the final dot the message is already on disk, in a temporary body file.
        await WaitForFileAsync(server.Paths.QueueDirectory, "body-*.tmp", present: true);
        await c.SendAsync(".\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 250, "2.0.0", "queued as");
        await WaitForFileAsync(server.Paths.QueueDirectory, "body-*.tmp", present: false);

        var delivered = Encoding.UTF8.GetString(SmtpAssert.ReadBytes(Assert.Single(await server.WaitForMailAsync("alice"))));
        Assert.EndsWith(original, delivered);
        Assert.DoesNotContain("header.d=bank.test", delivered);
        // Verified from the file like any other message: the server's own results lead the header.
        Assert.Contains("Authentication-Results: mta.test", delivered[..delivered.IndexOf("Subject: big", StringComparison.Ordinal)]);
    }

    [Fact]
    public async Task Hooks_read_a_spilled_message_through_MimeKit()
    {
        string? seenSubject = null;
        long seenSize = 0;
        await using var server = await MtaTestServer.StartAsync(hooks: r =>
            r.Register<DataPostContext>("reader", async (ctx, ct) =>
            {
                var mime = await ctx.Message.GetMimeMessageAsync(ct);
                seenSubject = mime.Subject;
                seenSize = ctx.Message.Size;
                return HookResult.Continue;
            }));
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var body = "Subject: read me\r\n\r\n" + LargeBody(10_000);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["alice@example.test"], body), 250);
        Assert.Equal("read me", seenSubject);
        Assert.Equal(body.Length, seenSize);
    }

    [Fact]
    public async Task A_client_killed_mid_DATA_leaves_no_body_file()
    {
        await using var server = await MtaTestServer.StartAsync();
        var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync("Subject: cut\r\n\r\n" + LargeBody(10_000));
        await WaitForFileAsync(server.Paths.QueueDirectory, "body-*.tmp", present: true);
        await c.DisposeAsync();
        await WaitForFileAsync(server.Paths.QueueDirectory, "body-*.tmp", present: false);
        Assert.Empty(Directory.GetFiles(server.Paths.QueueDirectory, "*.body"));
    }

    [Fact]
    public async Task When_the_in_flight_budget_is_used_up_the_message_gets_451_4_3_1_and_the_session_goes_on()
    {
        const int megabyte = 1024 * 1024;
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Limits.MaxMessageSize = megabyte;
            o.Limits.Data.InFlightBudget = megabyte;
        });
        var part = "Subject: held\r\n\r\n" + LargeBody(7_000); // about 650 KB: two of them do not fit

        await using var holder = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(holder);
        SmtpAssert.Reply(await holder.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await holder.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await holder.CommandAsync("DATA"), 354);
        await holder.SendAsync(part);
        await WaitForFileAsync(server.Paths.QueueDirectory, "body-*.tmp", present: true);
        await using var second = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(second);
        var refused = await WaitForRefusalAsync(second, part);
        SmtpAssert.Reply(refused, 451, "4.3.1", "too much mail");
        // The data was read to its end: the session is in step and goes on.
        SmtpAssert.Reply(await second.CommandAsync("NOOP"), 250);

        await holder.SendAsync(".\r\n");
        SmtpAssert.Reply(await holder.ReadReplyAsync(), 250, "2.0.0", "queued as");
        // With the holder's data committed, the budget is free again.
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(second, "sender@remote.test", ["alice@example.test"], part), 250, "2.0.0");
    }

    /// <summary>Sends a whole message; the holder's data may still be arriving at the server, so a 250 is retried (bounded).</summary>
    private static async Task<RawReply> WaitForRefusalAsync(RawSmtpClient c, string message)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var reply = await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["alice@example.test"], message);
            if (reply.Code != 250 || DateTime.UtcNow > deadline) return reply;
        }
    }
}
