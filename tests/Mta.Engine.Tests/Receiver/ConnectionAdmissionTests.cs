// ConnectionAdmission: per-address keys (IPv6 /64), exceptions, slots and stress mode with hysteresis.
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;

namespace Mta.Engine.Tests.Receiver;

public sealed class ConnectionAdmissionTests
{
    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) lock (Lines) Lines.Add(formatter(state, exception));
        }
    }

    private static (ConnectionAdmission Admission, ListLogger Log) Create(Action<MtaOptions>? configure = null)
    {
        var options = new MtaOptions();
        configure?.Invoke(options);
        var log = new ListLogger();
        return (new ConnectionAdmission(options, new FakeTimeProvider(), log), log);
    }

    [Theory]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:cccc", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1", false)]
    [InlineData("::ffff:192.0.2.1", "192.0.2.1", true)]
    [InlineData("192.0.2.1", "192.0.2.2", false)]
    public void Addresses_are_counted_per_IPv4_address_and_per_IPv6_slash_64(string a, string b, bool same)
    {
        Assert.Equal(same, ConnectionAdmission.AddressKey(IPAddress.Parse(a)).Equals(ConnectionAdmission.AddressKey(IPAddress.Parse(b))));
    }

    [Fact]
    public void One_IPv6_host_cannot_pass_the_per_address_limit_by_changing_its_interface_identifier()
    {
        var (admission, _) = Create(o => o.Limits.MaxConnectionsPerIp = 2);
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("2001:db8::1"), out _, out _));
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("2001:db8::2"), out var second, out _));
        Assert.Equal(AddressAdmission.TooMany, admission.TryAdmitAddress(IPAddress.Parse("2001:db8::3"), out _, out _));
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("2001:db8:0:1::1"), out _, out _));
        admission.ReleaseAddress(second!);
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("2001:db8::3"), out _, out _));
    }

    [Fact]
    public void Loopback_and_the_trusted_networks_are_exempt_by_default()
    {
        var (admission, _) = Create(o =>
        {
            o.Limits.MaxConnectionsPerIp = 1;
            o.Relay.TrustedNetworks = ["198.51.100.0/24"];
        });
        foreach (var address in new[] { "127.0.0.1", "127.0.0.1", "127.0.0.9", "::1", "::1", "198.51.100.7", "198.51.100.7" })
            Assert.Equal(AddressAdmission.Exempt, admission.TryAdmitAddress(IPAddress.Parse(address), out var counted, out _));
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("203.0.113.5"), out _, out _));
        Assert.Equal(AddressAdmission.TooMany, admission.TryAdmitAddress(IPAddress.Parse("203.0.113.5"), out _, out _));
    }

    [Fact]
    public void An_explicit_list_replaces_the_default_exceptions()
    {
        var (admission, _) = Create(o =>
        {
            o.Limits.MaxConnectionsPerIp = 1;
            o.Limits.ConnectionLimitExceptions = ["192.0.2.0/24"];
        });
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Loopback, out _, out _));
        Assert.Equal(AddressAdmission.TooMany, admission.TryAdmitAddress(IPAddress.Loopback, out _, out _));
        Assert.Equal(AddressAdmission.Exempt, admission.TryAdmitAddress(IPAddress.Parse("192.0.2.8"), out _, out _));
        var (none, _) = Create(o => { o.Limits.MaxConnectionsPerIp = 1; o.Limits.ConnectionLimitExceptions = []; });
        Assert.Equal(AddressAdmission.Admitted, none.TryAdmitAddress(IPAddress.Loopback, out _, out _));
        Assert.Equal(AddressAdmission.TooMany, none.TryAdmitAddress(IPAddress.Loopback, out _, out _));
    }

    [Fact]
    public void Slots_run_out_at_the_global_limit_and_come_back_when_released()
    {
        var (admission, _) = Create(o => o.Limits.MaxConnections = 3);
        for (var i = 0; i < 3; i++) Assert.True(admission.TryTakeSlot());
        Assert.False(admission.TryTakeSlot());
        admission.ReleaseSlot();
        Assert.True(admission.TryTakeSlot());
    }

    [Fact]
    public void Stress_begins_at_its_threshold_shortens_timeouts_lowers_limits_and_ends_lower_down()
    {
        var (admission, log) = Create(o =>
        {
            o.Limits.MaxConnections = 10;
            o.Limits.MaxConnectionsPerIp = 50;
            o.Limits.GreetingDelay = TimeSpan.FromSeconds(6);
            o.Limits.ConnectionLimitExceptions = [];
        });
        for (var i = 0; i < 7; i++) Assert.True(admission.TryTakeSlot());
        Assert.False(admission.UnderStress);
        Assert.Equal(TimeSpan.FromMinutes(5), admission.ReadTimeout(TimeSpan.FromMinutes(5), awaitingCommand: true));
        var client = IPAddress.Parse("192.0.2.1");
        for (var i = 0; i < 12; i++) Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(client, out _, out _));

        Assert.True(admission.TryTakeSlot()); // 8 of 10: stress
        Assert.True(admission.UnderStress);
        Assert.Equal(TimeSpan.FromSeconds(10), admission.ReadTimeout(TimeSpan.FromMinutes(5), awaitingCommand: true));
        Assert.Equal(TimeSpan.FromSeconds(10), admission.ReadTimeout(TimeSpan.FromMinutes(5), awaitingCommand: false));
        Assert.Equal(TimeSpan.FromSeconds(3), admission.ReadTimeout(TimeSpan.FromSeconds(3), awaitingCommand: true));
        Assert.Equal(TimeSpan.FromSeconds(2), admission.GreetingDelay);
        Assert.Equal(5, admission.MaxErrors);
        // The client already holds 12: past the stress limit of 10, refused; a new client is still welcome.
        Assert.Equal(AddressAdmission.TooMany, admission.TryAdmitAddress(client, out _, out _));
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(IPAddress.Parse("192.0.2.2"), out _, out _));

        admission.ReleaseSlot(); // 7: still under stress (hysteresis)
        Assert.True(admission.UnderStress);
        admission.ReleaseSlot(); // 6: 60%, over
        Assert.False(admission.UnderStress);
        Assert.Equal(TimeSpan.FromSeconds(6), admission.GreetingDelay);
        Assert.Equal(20, admission.MaxErrors);
        Assert.Equal(AddressAdmission.Admitted, admission.TryAdmitAddress(client, out _, out _));
        Assert.Collection(log.Lines,
            l => Assert.StartsWith("stress: 8 of 10", l),
            l => Assert.StartsWith("stress over: 6 of 10", l));
    }

    [Fact]
    public void Stress_can_be_turned_off()
    {
        var (admission, _) = Create(o =>
        {
            o.Limits.MaxConnections = 10;
            o.Limits.Stress.Enabled = false;
        });
        for (var i = 0; i < 10; i++) Assert.True(admission.TryTakeSlot());
        Assert.False(admission.UnderStress);
    }
}
