// Slow clients and slots over real sockets: timeouts that hold, the minimum data rate, stress mode, and the bar
// (drip-fed connections from 25 addresses must not keep a legitimate client out).
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class SlowClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Forty_silent_sessions_are_all_closed_at_the_command_timeout_and_none_gets_a_second_one()
    {
        var timeout = TimeSpan.FromSeconds(3);
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.CommandTimeout = timeout);
        var sessions = Enumerable.Range(0, 40).Select(async _ =>
        {
            await using var silent = await RawSmtpClient.ConnectAsync(server.EndPoint);
            var clock = Stopwatch.StartNew();
            var reply = await silent.ReadReplyAsync();
            var closed = await silent.IsClosedByServerAsync();
            return (reply, clock.Elapsed, closed);
        }).ToArray();
        var results = await Task.WhenAll(sessions);
        Assert.All(results, r =>
        {
            SmtpAssert.Reply(r.reply, 421, "4.4.2", "timeout exceeded");
            Assert.True(r.closed, "the connection stayed open after 421");
            // Not early (the client starts its clock after the greeting reached it); and well before a second full timeout, which a re-armed timer would have granted.
            Assert.InRange(r.Elapsed, timeout - TimeSpan.FromSeconds(1), 2 * timeout - TimeSpan.FromMilliseconds(100));
        });
    }

    [Fact]
    public async Task A_client_dripping_a_command_line_is_closed_as_too_slow_long_before_the_command_timeout()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Limits.CommandTimeout = TimeSpan.FromMinutes(2);
            o.Limits.MinDataRateGracePeriod = TimeSpan.FromSeconds(2);
        });
        await using var drip = await RawSmtpClient.ConnectAsync(server.EndPoint);
        var clock = Stopwatch.StartNew();
        var reply = drip.ReadReplyAsync();
        foreach (var b in "EHLO drip.example\r\n")
        {
            if (reply.IsCompleted) break;
            try { await drip.SendAsync(b.ToString()); } catch (IOException) { break; }
            await Task.WhenAny(reply, Task.Delay(500, Ct));
        }
        SmtpAssert.Reply(await reply, 421, "4.4.2", "too slow");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"closed after {clock.Elapsed}");
        Assert.True(await drip.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_client_dripping_DATA_is_closed_as_too_slow()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MinDataRateGracePeriod = TimeSpan.FromSeconds(2));
        await using var drip = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(drip);
        SmtpAssert.Reply(await drip.CommandAsync("MAIL FROM:<a@drip.test>"), 250);
        SmtpAssert.Reply(await drip.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await drip.CommandAsync("DATA"), 354);
        var reply = drip.ReadReplyAsync();
        for (var i = 0; i < 100 && !reply.IsCompleted; i++)
        {
            try { await drip.SendAsync("x\r\n"); } catch (IOException) { break; }
            await Task.WhenAny(reply, Task.Delay(300, Ct));
        }
        SmtpAssert.Reply(await reply, 421, "4.4.2", "too slow");
        Assert.False(Directory.Exists(server.MaildirNew("alice")) && Directory.GetFiles(server.MaildirNew("alice")).Length > 0);
    }

    [Fact]
    public async Task An_honest_client_that_pauses_between_commands_and_sends_DATA_in_pieces_is_served()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MinDataRateGracePeriod = TimeSpan.FromSeconds(1));
        await using var client = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(client);
        await Task.Delay(2500, Ct); // idle between commands, longer than the grace period: only CommandTimeout applies
        SmtpAssert.Reply(await client.CommandAsync("MAIL FROM:<a@client.test>"), 250);
        SmtpAssert.Reply(await client.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        SmtpAssert.Reply(await client.CommandAsync("DATA"), 354);
        await client.SendAsync("Subject: in pieces\r\n\r\n");
        for (var i = 0; i < 4; i++)
        {
            await Task.Delay(400, Ct); // about 2500 bytes a second: slow, but well above the minimum rate
            await client.SendAsync(string.Concat(Enumerable.Repeat(new string('x', 98) + "\r\n", 10)));
        }
        await client.SendAsync(".\r\n");
        SmtpAssert.Reply(await client.ReadReplyAsync(), 250);
        await Task.Delay(1500, Ct);
        SmtpAssert.Reply(await client.CommandAsync("NOOP"), 250);
        await server.WaitForMailAsync("alice");
    }

    [Fact]
    public async Task A_full_server_answers_a_new_connection_at_once_with_421_4_3_2()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxConnections = 2);
        await using var a = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await using var b = await RawSmtpClient.ConnectAsync(server.EndPoint);
        var clock = Stopwatch.StartNew();
        await using var extra = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
        SmtpAssert.Reply(await extra.ReadReplyAsync(), 421, "4.3.2", "too many connections");
        Assert.True(await extra.IsClosedByServerAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"refusal took {clock.Elapsed}");
    }

    [Fact]
    public async Task An_empty_exceptions_list_in_the_config_file_replaces_the_default()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mta-cfg-" + Guid.NewGuid().ToString("n")[..12]);
        try
        {
            var path = MtaProcess.WriteConfig(dir, 0, new { ConnectionLimitExceptions = Array.Empty<string>() });
            Assert.Equal([], Mta.Configuration.ConfigLoader.Load(path).Options.Limits.ConnectionLimitExceptions!);
            path = MtaProcess.WriteConfig(dir, 0, new { MaxConnectionsPerIp = 5 });
            Assert.Null(Mta.Configuration.ConfigLoader.Load(path).Options.Limits.ConnectionLimitExceptions);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(dir);
        }
    }

    /// <summary>The bar at CI scale: 200 drip-fed connections (a byte every 3 s) from 127.0.0.10-34 against
    /// 120 slots; a legitimate client from 127.0.0.200 is served within 10 s every time.</summary>
    [Fact]
    public async Task Drip_fed_connections_from_25_addresses_do_not_keep_a_legitimate_client_out()
    {
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Limits.MaxConnections = 120;
            o.Limits.MaxConnectionsPerIp = 50;
            // At this scale 25 addresses with the default 10 each could take every slot: under stress (from 96 busy)
            // 3 each stay below it.
            o.Limits.Stress.MaxConnectionsPerIp = 3;
            o.Limits.MinDataRateGracePeriod = TimeSpan.FromSeconds(3);
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var attackers = new List<Task>();
        for (var i = 0; i < 8; i++)
            for (var a = 0; a < 25; a++)
                attackers.Add(DripLoopAsync(server.EndPoint, IPAddress.Parse($"127.0.0.{10 + a}"), stop.Token));
        var legit = IPAddress.Parse("127.0.0.200");
        var latencies = new List<TimeSpan>();
        try
        {
            await Task.Delay(3000, Ct); // the drip connections take their slots
            for (var round = 0; round < 8; round++)
            {
                var clock = Stopwatch.StartNew();
                await using (var client = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false, localAddress: legit))
                {
                    SmtpAssert.Reply(await client.ReadReplyAsync(), 220);
                    await SmtpAssert.EhloAsync(client, "legit.example");
                    SmtpAssert.Reply(await SmtpAssert.TransactionAsync(client, "a@legit.example", ["alice@example.test"],
                        $"Subject: round {round}\r\n\r\nhello\r\n"), 250);
                    SmtpAssert.Reply(await client.CommandAsync("QUIT"), 221);
                }
                latencies.Add(clock.Elapsed);
                await Task.Delay(1000, Ct);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(attackers);
        }
        Assert.All(latencies, l => Assert.True(l < TimeSpan.FromSeconds(10), $"a transaction took {l}"));
        await server.WaitForMailAsync("alice", 8);
    }

    /// <summary>One attacker slot: connect from <paramref name="from"/>, drip one byte every 3 s until the server closes
    /// the connection, reconnect after a short pause; until <paramref name="stop"/>.</summary>
    private static async Task DripLoopAsync(IPEndPoint server, IPAddress from, CancellationToken stop)
    {
        var text = "EHLO drip.example\r\n"u8.ToArray();
        var next = 0;
        while (!stop.IsCancellationRequested)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(server, stop);
                var closed = DrainAsync(socket, stop);
                while (!closed.IsCompleted && !stop.IsCancellationRequested)
                {
                    await socket.SendAsync(text.AsMemory(next++ % text.Length, 1), SocketFlags.None, stop);
                    await Task.WhenAny(closed, Task.Delay(3000, stop));
                }
                await closed;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            try { await Task.Delay(300, stop); } catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Reads until the server closes the connection (or it fails); what it says does not matter.</summary>
    private static async Task DrainAsync(Socket socket, CancellationToken stop)
    {
        var buffer = new byte[512];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, stop) > 0) { }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
