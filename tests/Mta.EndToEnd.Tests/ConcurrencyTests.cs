// Many simultaneous clients each complete a transaction; the per-IP connection limit answers 421 4.7.0.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Two_hundred_concurrent_sessions_each_deliver_one_message()
    {
        const int clients = 200;
        const int users = 5;
        await using var server = await MtaTestServer.StartAsync();
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await start.WaitAsync(TestContext.Current.CancellationToken);
            await SmtpAssert.EhloAsync(c, $"client{i}.test");
            var reply = await SmtpAssert.TransactionAsync(c, $"s{i}@remote.test", [$"user{i % users}@example.test"], $"Subject: concurrent {i}\r\n\r\nbody {i}\r\n");
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
            return reply;
        })).ToArray();
        start.Release(clients);
        var replies = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.All(replies, r => SmtpAssert.Reply(r, 250, "2.0.0", "queued as"));
        Assert.Equal(clients, replies.Select(r => SmtpAssert.QueueIdOf(r.Text)).Distinct().Count());

        var subjects = new HashSet<string>();
        for (var u = 0; u < users; u++)
        {
            var files = await server.WaitForMailAsync($"user{u}", clients / users, TimeSpan.FromSeconds(40));
            Assert.Equal(clients / users, files.Length);
            foreach (var f in files) subjects.Add(SmtpAssert.ReadText(f).Split("\r\n").First(l => l.StartsWith("Subject: ")));
        }
        Assert.Equal(clients, subjects.Count);
    }

    [Fact]
    public async Task Sixth_connection_from_one_address_gets_421_when_the_limit_is_five()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.MaxConnectionsPerIp = 5);
        var held = new List<RawSmtpClient>();
        try
        {
            for (var i = 0; i < 5; i++) held.Add(await SmtpAssert.ConnectAsync(server)); // each read its 220
            await using (var sixth = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false))
            {
                SmtpAssert.Reply(await sixth.ReadReplyAsync(), 421, "4.7.0");
                Assert.True(await sixth.IsClosedByServerAsync(), "refused connection left open");
            }
            // The five held sessions still work.
            foreach (var c in held) SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);

            // Once one leaves, a new connection is accepted (bounded retry: the server frees the slot asynchronously).
            SmtpAssert.Reply(await held[0].CommandAsync("QUIT"), 221);
            Assert.True(await held[0].IsClosedByServerAsync());
            await held[0].DisposeAsync();
            held.RemoveAt(0);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (true)
            {
                var next = await RawSmtpClient.ConnectAsync(server.EndPoint, readGreeting: false);
                var greeting = await next.ReadReplyAsync();
                if (greeting.Code == 220) { held.Add(next); break; }
                await next.DisposeAsync();
                Assert.True(DateTime.UtcNow < deadline, "slot never freed: " + greeting);
                await Task.Delay(20, TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            foreach (var c in held) await c.DisposeAsync();
        }
    }
}
