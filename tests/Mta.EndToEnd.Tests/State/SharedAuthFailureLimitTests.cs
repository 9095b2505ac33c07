// The AUTH failure limiter over a shared Redis state store: failures on two nodes count together, and count locally
// while Redis is down.
using System.Diagnostics;
using System.Net;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.State;

public sealed class SharedAuthFailureLimitTests
{
    private static AuthFailureLimiter Limiter(RedisNode node) => new(
        new MtaOptions { Auth = new AuthOptions { MaxFailuresPerIp = 3, FailureWindow = TimeSpan.FromMinutes(10) } },
        TimeProvider.System, node.Store(AuthFailureLimiter.StateOwner));

    private static async Task FailOnceAsync(AuthFailureLimiter limiter, IPAddress address)
    {
        var attempt = await limiter.TryBeginAttemptAsync(address, CancellationToken.None);
        Assert.NotNull(attempt);
        await attempt.FailAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Failures_on_two_nodes_count_together_and_locally_while_redis_is_down()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var firstNode = await RedisNode.StartAsync(redis);
        await using var secondNode = await RedisNode.StartAsync(redis);
        var first = Limiter(firstNode);
        var second = Limiter(secondNode);
        var guesser = IPAddress.Parse("192.0.2.7");

        await FailOnceAsync(first, guesser);
        await FailOnceAsync(first, guesser);
        Assert.False(second.IsBlocked(guesser));
        await FailOnceAsync(second, guesser);
        // The second node saw one failure itself and three in all: blocked there, and on the first at its next attempt.
        Assert.True(second.IsBlocked(guesser));
        Assert.Null(await first.TryBeginAttemptAsync(guesser, CancellationToken.None));
        Assert.True(first.IsBlocked(guesser));
        Assert.Equal(":3", await redis.CommandAsync("ZCARD", "mta:engine:auth:failures:192.0.2.7"));

        redis.Kill();
        var other = IPAddress.Parse("192.0.2.8");
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++) await FailOnceAsync(first, other);
        Assert.True(first.IsBlocked(other));
        Assert.Null(await first.TryBeginAttemptAsync(other, CancellationToken.None));
        // The other node cannot see them: it counts alone until Redis is back.
        var attempt = await second.TryBeginAttemptAsync(other, CancellationToken.None);
        Assert.NotNull(attempt);
        attempt.Dispose();
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"five limiter calls during the outage took {watch.Elapsed}");
    }
}
