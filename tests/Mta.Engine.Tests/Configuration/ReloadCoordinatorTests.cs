// The reload coordinator: a refused configuration changes nothing, a component that cannot take it undoes the others,
// a good one reaches every component and the shared options, and changed restart-only keys are named.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Reload;

namespace Mta.Engine.Tests.Configuration;

public sealed class ReloadCoordinatorTests
{
    private sealed class Reader(ConfigurationSnapshot started) : IConfigurationReader
    {
        public ConfigurationSnapshot Started { get; } = started;
        public Func<ConfigurationSnapshot> Next { get; set; } = () => started;
        public ConfigurationSnapshot Read() => Next();
        public int AppliedCount { get; private set; }
        public void Applied() => AppliedCount++;
    }

    private sealed class Recorder(string name, Func<MtaOptions, bool>? refuses = null) : IReloadable
    {
        public string Name => name;
        public List<MtaOptions> Calls { get; } = [];
        public void Reload(MtaOptions options)
        {
            if (refuses?.Invoke(options) == true) throw new StartupException($"{name}: cannot use it");
            Calls.Add(options);
        }
    }

    private static ConfigurationSnapshot Snapshot(MtaOptions options, params (string Key, string Value)[] values) =>
        new("/etc/mta/mta.config.json", options, values.ToDictionary(v => v.Key, v => (string?)v.Value, StringComparer.OrdinalIgnoreCase));

    private static (ReloadCoordinator, Reader) Create(MtaOptions running, params IReloadable[] reloadables)
    {
        var services = new ServiceCollection();
        foreach (var reloadable in reloadables) services.AddSingleton(reloadable);
        var reader = new Reader(Snapshot(running, ("HostName", "mx.test"), ("LocalDomains:0", "a.test")));
        return (new ReloadCoordinator(reader, running, services.BuildServiceProvider(), NullLogger<ReloadCoordinator>.Instance), reader);
    }

    [Fact]
    public async Task An_invalid_configuration_is_refused_with_every_error_and_nothing_is_called()
    {
        var component = new Recorder("maps");
        var (coordinator, reader) = Create(new MtaOptions(), component);
        reader.Next = () => throw new InvalidConfigurationException("/etc/mta/mta.config.json", ["LocalDomains:1: bad", "Listeners:0:Port: bad"]);

        var result = await coordinator.ReloadAsync(TestContext.Current.CancellationToken);

        Assert.False(result.Applied);
        Assert.Equal(["LocalDomains:1: bad", "Listeners:0:Port: bad"], result.Errors);
        Assert.Empty(component.Calls);
    }

    [Fact]
    public async Task A_component_that_cannot_take_it_refuses_the_whole_reload_and_the_others_get_the_old_one_back()
    {
        var running = new MtaOptions { LocalDomains = ["a.test"] };
        var first = new Recorder("first");
        var second = new Recorder("second", refuses: o => o.LocalDomains.Contains("b.test"));
        var (coordinator, reader) = Create(running, first, second);
        var next = new MtaOptions { LocalDomains = ["a.test", "b.test"] };
        reader.Next = () => Snapshot(next, ("HostName", "mx.test"), ("LocalDomains:0", "a.test"), ("LocalDomains:1", "b.test"));

        var result = await coordinator.ReloadAsync(TestContext.Current.CancellationToken);

        Assert.False(result.Applied);
        Assert.Equal(["second: second: cannot use it"], result.Errors);
        Assert.Equal([next, running], first.Calls);
        Assert.Equal(["a.test"], running.LocalDomains);
    }

    [Fact]
    public async Task A_good_configuration_reaches_every_component_and_the_live_settings_and_names_restart_keys()
    {
        var running = new MtaOptions { LocalDomains = ["a.test"] };
        var first = new Recorder("first");
        var second = new Recorder("second");
        var (coordinator, reader) = Create(running, first, second);
        var next = new MtaOptions { LocalDomains = ["a.test", "b.test"] };
        next.Relay.TrustedNetworks = ["192.0.2.0/24"];
        reader.Next = () => Snapshot(next, ("HostName", "mx2.test"), ("LocalDomains:0", "a.test"), ("LocalDomains:1", "b.test"),
            ("Listeners:0:Port", "25"), ("Relay:TrustedNetworks:0", "192.0.2.0/24"), ("Logging:LogLevel:Default", "Debug"));

        var result = await coordinator.ReloadAsync(TestContext.Current.CancellationToken);

        Assert.True(result.Applied);
        Assert.Equal(["first", "second"], result.Reloaded);
        Assert.Equal([next], first.Calls);
        Assert.Equal([next], second.Calls);
        Assert.Equal(["a.test", "b.test"], running.LocalDomains);
        Assert.Equal(["192.0.2.0/24"], running.Relay.TrustedNetworks);
        Assert.Equal(["HostName", "Listeners"], result.RestartKeys);
        Assert.Equal(1, reader.AppliedCount);
    }

    [Fact]
    public void Restart_keys_leave_out_live_settings_and_name_a_list_once()
    {
        var started = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Listeners:0:Port"] = "25", ["Listeners:0:Name"] = "smtp", ["Tls:CertificateFile"] = "a.pem", ["DataDirectory"] = "/var/lib/mta",
        };
        var next = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Listeners:0:Port"] = "26", ["Listeners:0:Name"] = "mx", ["Tls:CertificateFile"] = "b.pem", ["DataDirectory"] = "/srv/mta",
            ["Mailboxes:Users:0"] = "alice",
        };
        Assert.Equal(["DataDirectory", "Listeners"], ReloadCoordinator.RestartKeys(started, next));
    }
}
