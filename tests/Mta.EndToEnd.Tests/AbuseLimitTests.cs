// Abuse limits over real sockets: early talkers, session and DATA time caps, commands per session, header limits.
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class AbuseLimitTests
{
    [Fact]
    public async Task A_client_that_talks_before_the_greeting_is_refused_and_closed()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.GreetingDelay = TimeSpan.FromMilliseconds(400));
        await using var bot = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        await bot.SendAsync("EHLO bot.test\r\n");
        var reply = await bot.ReadReplyAsync();
        Assert.Equal(554, reply.Code);
        Assert.StartsWith("5.5.0", reply.Lines[0]);
        Assert.True(await bot.IsClosedByServerAsync());

        // A client that waits for the greeting is served as usual.
        await using var polite = await RawSmtpClient.ConnectAsync(server.EndPoint);
        Assert.Equal(250, (await polite.CommandAsync("EHLO polite.test")).Code);
    }

    [Fact]
    public async Task A_session_that_stays_busy_past_its_time_cap_is_closed_with_421()
    {
        // The session's clock is a fake one: the cap passes when the test says so, not after real seconds.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxSessionTime = TimeSpan.FromMinutes(2), time: time);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code);
        time.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code);
        time.Advance(TimeSpan.FromSeconds(2));
        var reply = await smtp.CommandAsync("NOOP");
        Assert.Equal(421, reply.Code);
        Assert.StartsWith("4.4.2", reply.Lines[0]);
        Assert.True(await smtp.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_slow_drip_DATA_is_cut_at_the_data_time_cap()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Limits.MaxDataTime = TimeSpan.FromMinutes(1);
            o.Limits.MinDataRate = 0; // the cap alone is under test, not the rate check
        }, time: time);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO drip.test");
        await smtp.CommandAsync("MAIL FROM:<a@drip.test>");
        await smtp.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var readTask = smtp.ReadReplyAsync();
        // Each line comes well within DataTimeout, but together they outlast MaxDataTime.
        for (var i = 0; i < 20 && !readTask.IsCompleted; i++)
        {
            try { await smtp.SendAsync("x\r\n"); } catch (IOException) { break; }
            time.Advance(TimeSpan.FromSeconds(10));
            await Task.WhenAny(readTask, Task.Delay(50, TestContext.Current.CancellationToken));
        }
        var reply = await readTask;
        Assert.Equal(421, reply.Code);
        Assert.False(Directory.Exists(server.MaildirNew("alice")) && Directory.GetFiles(server.MaildirNew("alice")).Length > 0);
    }

    [Fact]
    public async Task Commands_past_the_per_session_limit_end_the_session()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxCommandsPerSession = 100);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.SendAsync(string.Concat(Enumerable.Repeat("NOOP\r\n", 101)));
        for (var i = 0; i < 100; i++) Assert.Equal(250, (await smtp.ReadReplyAsync()).Code);
        var last = await smtp.ReadReplyAsync();
        Assert.Equal(421, last.Code);
        Assert.StartsWith("4.7.0", last.Lines[0]);
        Assert.True(await smtp.IsClosedByServerAsync());
    }

    [Theory]
    [InlineData("fields", 552, "5.3.4")]
    [InlineData("received", 554, "5.4.6")]
    [InlineData("bytes", 552, "5.3.4")]
    public async Task Headers_over_a_limit_are_refused_and_the_session_goes_on(string kind, int code, string enhanced)
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Limits.MaxHeaderFields = 20;
            o.Limits.MaxReceivedHeaders = 10;
            o.Limits.MaxHeaderBytes = 2000;
        });
        var header = new StringBuilder();
        switch (kind)
        {
            case "fields": for (var i = 0; i < 21; i++) header.Append($"X-Field-{i}: v\r\n"); break;
            case "received": for (var i = 0; i < 11; i++) header.Append($"Received: from hop{i}.test by hop{i + 1}.test; Sat, 28 Nov 2026 10:00:00 +0000\r\n"); break;
            default: header.Append("Subject: long").Append(string.Concat(Enumerable.Repeat("\r\n folded line of the subject", 80))).Append("\r\n"); break;
        }
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<a@client.test>");
        await smtp.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        await smtp.SendAsync(header + "\r\nbody\r\n.\r\n");
        var refused = await smtp.ReadReplyAsync();
        Assert.Equal(code, refused.Code);
        Assert.StartsWith(enhanced, refused.Lines[0]);
        Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task An_idle_client_is_closed_with_421_after_the_command_timeout()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.CommandTimeout = TimeSpan.FromSeconds(1));
        await using var idle = await RawSmtpClient.ConnectAsync(server.EndPoint);
        Assert.Equal(250, (await idle.CommandAsync("EHLO idle.test")).Code);
        var reply = await idle.ReadReplyAsync();
        Assert.Equal(421, reply.Code);
        Assert.StartsWith("4.4.2", reply.Lines[0]);
        Assert.True(await idle.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Connections_past_the_global_limit_get_421_and_a_freed_slot_is_reused()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxConnections = 3);
        var held = new List<RawSmtpClient>();
        for (var i = 0; i < 3; i++) held.Add(await RawSmtpClient.ConnectAsync(server.EndPoint));
        await using (var extra = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
        {
            var refused = await extra.ReadReplyAsync();
            Assert.Equal(421, refused.Code);
            Assert.StartsWith("4.3.2", refused.Lines[0]);
            Assert.Contains("too many connections", refused.Lines[0]);
            Assert.True(await extra.IsClosedByServerAsync());
        }
        Assert.Equal(221, (await held[0].CommandAsync("QUIT")).Code);
        Assert.True(await held[0].IsClosedByServerAsync());
        await held[0].DisposeAsync();
        // The slot is released when the session ends, on the server's side of the close: wait for it, bounded.
        await Conditions.WaitUntilAsync(async () =>
        {
            await using var next = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
            return (await next.ReadReplyAsync()).Code == 220;
        }, "the freed slot reused");
        foreach (var c in held.Skip(1)) await c.DisposeAsync();
    }
}
