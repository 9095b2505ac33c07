// The State section: binding, and a Redis provider without a usable server or with bad timings refused by key.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class StateConfigurationTests
{
    private static MtaOptions Bind(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().Get<MtaOptions>() ?? new MtaOptions();

    private static IReadOnlyList<string> Errors(Dictionary<string, string?> values)
    {
        var options = Bind(values);
        options.Listeners = [new ListenerOptions()];
        return MtaOptionsValidator.Validate(options).Where(e => e.StartsWith("State:", StringComparison.Ordinal)).ToArray();
    }

    [Fact]
    public void The_redis_keys_bind_with_their_defaults_beside_them()
    {
        var options = Bind(new() { ["State:Provider"] = "Redis", ["State:Redis:Configuration"] = "127.0.0.1:6379", ["State:Redis:BreakDuration"] = "00:00:02" });
        Assert.Equal(StateProvider.Redis, options.State.Provider);
        Assert.Equal("mta:", options.State.Redis.KeyPrefix);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.State.Redis.OperationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), options.State.Redis.BreakDuration);
        Assert.Empty(Errors(new() { ["State:Provider"] = "Redis", ["State:Redis:Configuration"] = "127.0.0.1:6379" }));
    }

    [Fact]
    public void Redis_without_a_server_is_refused_rather_than_silently_kept_in_memory()
    {
        Assert.Equal(["State:Redis:Configuration: must name the Redis server (e.g. 127.0.0.1:6379) when State:Provider is Redis"],
            Errors(new() { ["State:Provider"] = "Redis" }));
        Assert.Empty(Errors(new() { ["State:Provider"] = "Memory" }));
    }

    [Theory]
    [InlineData("State:Redis:OperationTimeout", "00:00:00")]
    [InlineData("State:Redis:OperationTimeout", "00:05:00")]
    [InlineData("State:Redis:BreakDuration", "00:00:00.100")]
    [InlineData("State:Redis:ConnectTimeout", "00:00:00.010")]
    public void A_timing_out_of_range_is_named_by_its_key(string key, string value)
    {
        var error = Assert.Single(Errors(new() { ["State:Provider"] = "Redis", ["State:Redis:Configuration"] = "127.0.0.1:6379", [key] = value }));
        Assert.StartsWith(key + ":", error);
    }
}
