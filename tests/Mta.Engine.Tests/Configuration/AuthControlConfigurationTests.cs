// Auth:HashWorkers/HashQueueLimit and the Control section: defaults valid, bound from JSON, bad values named by their key.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Engine.Control;

namespace Mta.Engine.Tests.Configuration;

public sealed class AuthControlConfigurationTests
{
    [Fact]
    public void The_defaults_are_valid()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.Equal(0, options.Auth.HashWorkers);
        Assert.Equal(Environment.ProcessorCount, options.Auth.EffectiveHashWorkers);
        Assert.Equal(32, options.Auth.HashQueueLimit);
        Assert.Equal(32, options.Control.MaxConnections);
        Assert.Equal(4, options.Control.ReservedConnections);
        Assert.Equal(8, options.Control.MaxConnectionsPerUser);
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void The_keys_bind_from_configuration_and_reach_the_control_server()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Auth:HashWorkers"] = "3",
            ["Auth:HashQueueLimit"] = "7",
            ["Control:MaxConnections"] = "10",
            ["Control:ReservedConnections"] = "2",
            ["Control:IdleTimeout"] = "00:01:00",
        }).Build();
        var options = configuration.Get<MtaOptions>()!;
        Assert.Equal(3, options.Auth.EffectiveHashWorkers);
        Assert.Equal(7, options.Auth.HashQueueLimit);
        Assert.Equal(2, options.Control.ReservedConnections);

        var services = new ServiceCollection().AddSingleton(options).AddMtaControl();
        using var provider = services.BuildServiceProvider();
        var control = provider.GetRequiredService<ControlServerOptions>();
        Assert.Equal(10, control.MaxConnections);
        Assert.Equal(TimeSpan.FromMinutes(1), control.IdleTimeout);
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Auth.HashWorkers = -1;
        options.Auth.HashQueueLimit = -1;
        options.Control.MaxConnections = 4;
        options.Control.ReservedConnections = 4;
        options.Control.MaxConnectionsPerUser = 0;
        options.Control.IdleTimeout = TimeSpan.Zero;
        var errors = MtaOptionsValidator.Validate(options);
        foreach (var key in new[] { "Auth:HashWorkers", "Auth:HashQueueLimit", "Control:ReservedConnections", "Control:MaxConnectionsPerUser", "Control:IdleTimeout" })
            Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));

        options.Control.ReservedConnections = 0;
        Assert.Contains(MtaOptionsValidator.Validate(options), e => e.StartsWith("Control:ReservedConnections:", StringComparison.Ordinal));
    }
}
