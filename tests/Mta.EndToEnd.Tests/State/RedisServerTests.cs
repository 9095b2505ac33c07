// The private redis-server fixture itself: it answers, forgets everything when killed, and comes back on its port.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests.State;

public sealed class RedisServerTests
{
    [Fact]
    public async Task Answers_on_loopback_and_restarts_empty_on_the_same_port()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();

        Assert.Equal("+OK", await redis.CommandAsync("SET", "k", "v"));
        Assert.Equal("$1\r\nv", await redis.CommandAsync("GET", "k"));
        var port = redis.Port;

        redis.Kill();
        Assert.False(redis.IsRunning);
        await Assert.ThrowsAnyAsync<Exception>(() => redis.CommandAsync("PING"));

        await redis.RestartAsync();
        Assert.Equal(port, redis.Port);
        Assert.Equal("$-1", await redis.CommandAsync("GET", "k"));
    }
}
