// Limits for slow clients and slots: the defaults, and every bad value named by its key at start.
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class SlowClientConfigurationTests
{
    [Fact]
    public void The_defaults_are_documented_values_and_valid()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.Null(options.Limits.ConnectionLimitExceptions);
        Assert.Equal(240, options.Limits.MinDataRate);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Limits.MinDataRateGracePeriod);
        Assert.True(options.Limits.Stress.Enabled);
        Assert.Equal(0.8, options.Limits.Stress.EnterAt);
        Assert.Equal(0.6, options.Limits.Stress.LeaveAt);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Limits.Stress.CommandTimeout);
        Assert.Equal(10, options.Limits.Stress.MaxConnectionsPerIp);
        Assert.Empty(MtaOptionsValidator.Validate(options));
        options.Limits.ConnectionLimitExceptions = [];
        options.Limits.MinDataRate = 0;
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Limits.ConnectionLimitExceptions = ["127.0.0.0/8", "not-a-network"];
        options.Limits.MinDataRate = -1;
        options.Limits.MinDataRateGracePeriod = TimeSpan.Zero;
        options.Limits.Stress.EnterAt = 1.5;
        options.Limits.Stress.LeaveAt = 2;
        options.Limits.Stress.CommandTimeout = TimeSpan.Zero;
        options.Limits.Stress.DataTimeout = TimeSpan.Zero;
        options.Limits.Stress.GreetingDelay = TimeSpan.FromMinutes(5);
        options.Limits.Stress.MaxConnectionsPerIp = 0;
        options.Limits.Stress.MaxErrors = 0;
        var errors = MtaOptionsValidator.Validate(options);
        foreach (var key in new[] { "Limits:ConnectionLimitExceptions:1", "Limits:MinDataRate", "Limits:MinDataRateGracePeriod",
                     "Limits:Stress:EnterAt", "Limits:Stress:LeaveAt", "Limits:Stress:CommandTimeout", "Limits:Stress:DataTimeout",
                     "Limits:Stress:GreetingDelay", "Limits:Stress:MaxConnectionsPerIp", "Limits:Stress:MaxErrors" })
            Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.StartsWith("Limits:ConnectionLimitExceptions:0", StringComparison.Ordinal));
    }
}
