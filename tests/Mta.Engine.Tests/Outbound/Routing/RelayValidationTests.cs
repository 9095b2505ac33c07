// Start-up validation of the relay, resilience and queue keys: each bad value is reported with its key path.
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Outbound.Routing;

public sealed class RelayValidationTests
{
    // Valid apart from what a test changes: one listener is all the rest of the validator insists on.
    private static MtaOptions Valid() => new() { Listeners = [new ListenerOptions()] };

    private static IReadOnlyList<string> Errors(Action<MtaOptions> change)
    {
        var options = Valid();
        change(options);
        return MtaOptionsValidator.Validate(options);
    }

    private static void AssertError(string key, Action<MtaOptions> change)
    {
        var errors = Errors(change);
        Assert.Contains(errors, e => e.StartsWith(key + ": ", StringComparison.Ordinal));
    }

    [Fact]
    public void The_defaults_are_valid()
    {
        Assert.Empty(MtaOptionsValidator.Validate(Valid()));
    }

    [Fact]
    public void A_full_relay_configuration_is_valid()
    {
        var errors = Errors(o =>
        {
            o.Relay.SmartHost = new NextHopOptions { Host = "[relay.isp.test]", Port = 587, Tls = OutboundTlsPolicy.Verify, UserName = "me", Password = "pw" };
            o.Relay.Routes["example.org"] = new NextHopOptions { Host = "mail.example.org" };
            o.Relay.Routes[".example.net"] = new NextHopOptions { Host = "[192.0.2.1]", Port = 2525 };
            o.Relay.Routes["v6.test"] = new NextHopOptions { Host = "[IPv6:2001:db8::1]" };
            o.Dns.Servers = ["192.0.2.53", "192.0.2.54:5353", "2001:db8::53", "[2001:db8::54]:53"];
            o.Relay.HeloName = "mx.example.org";
            o.Queue.DelayWarningAfter = TimeSpan.FromHours(4);
        });
        Assert.Empty(errors);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("bad host")]
    [InlineData("-bad.test")]
    [InlineData("[IPv6:192.0.2.1]")]
    public void A_smart_host_needs_a_usable_host(string host) =>
        AssertError("Relay:SmartHost:Host", o => o.Relay.SmartHost = new NextHopOptions { Host = host });

    [Theory]
    [InlineData(0)]
    [InlineData(65536)]
    public void A_smart_host_port_is_a_TCP_port(int port) =>
        AssertError("Relay:SmartHost:Port", o => o.Relay.SmartHost = new NextHopOptions { Host = "relay.test", Port = port });

    [Fact]
    public void A_route_needs_a_host_and_a_port()
    {
        var errors = Errors(o => o.Relay.Routes["example.org"] = new NextHopOptions { Host = "", Port = -1 });
        Assert.Contains(errors, e => e.StartsWith("Relay:Routes:example.org:Host: "));
        Assert.Contains(errors, e => e.StartsWith("Relay:Routes:example.org:Port: "));
    }

    [Theory]
    [InlineData("*.example.org")]
    [InlineData("..example.org")]
    [InlineData("example..org")]
    [InlineData("[192.0.2.1]")]
    [InlineData(".")]
    public void A_route_key_is_a_domain_or_a_dot_domain(string key) =>
        AssertError($"Relay:Routes:{key}", o => o.Relay.Routes[key] = new NextHopOptions { Host = "relay.test" });

    [Fact]
    public void A_user_name_needs_a_password_or_a_password_file()
    {
        AssertError("Relay:SmartHost:UserName", o => o.Relay.SmartHost = new NextHopOptions { Host = "relay.test", UserName = "me" });
        AssertError("Relay:Routes:example.org:UserName", o => o.Relay.Routes["example.org"] = new NextHopOptions { Host = "relay.test", UserName = "me" });
        Assert.Empty(Errors(o => o.Relay.SmartHost = new NextHopOptions { Host = "relay.test", UserName = "me", PasswordFile = "relay.pw" }));
    }

    [Fact]
    public void A_password_needs_a_user_name_and_only_one_source()
    {
        AssertError("Relay:SmartHost:Password", o => o.Relay.SmartHost = new NextHopOptions { Host = "relay.test", Password = "pw" });
        AssertError("Relay:SmartHost:PasswordFile", o => o.Relay.SmartHost = new NextHopOptions { Host = "relay.test", UserName = "me", Password = "pw", PasswordFile = "f" });
    }

    [Fact]
    public void A_next_hop_TLS_policy_must_be_defined() =>
        AssertError("Relay:Routes:example.org:Tls", o => o.Relay.Routes["example.org"] = new NextHopOptions { Host = "relay.test", Tls = (OutboundTlsPolicy)42 });

    [Theory]
    [InlineData("resolver.test")]
    [InlineData("192.0.2.53:99999")]
    [InlineData("10.1")]
    [InlineData("")]
    public void A_DNS_server_is_IP_or_IP_PORT(string server) =>
        AssertError("Dns:Servers:1", o => o.Dns.Servers = ["192.0.2.53", server]);

    [Fact]
    public void The_helo_name_must_be_a_host_name_or_an_address_literal()
    {
        AssertError("Relay:HeloName", o => o.Relay.HeloName = "not a name");
        Assert.Empty(Errors(o => o.Relay.HeloName = "[192.0.2.25]"));
    }

    [Fact]
    public void Relay_timeouts_must_be_positive()
    {
        AssertError("Relay:Timeouts:Connect", o => o.Relay.Timeouts.Connect = TimeSpan.Zero);
        AssertError("Relay:Timeouts:Greeting", o => o.Relay.Timeouts.Greeting = TimeSpan.FromSeconds(-1));
        AssertError("Relay:Timeouts:Command", o => o.Relay.Timeouts.Command = TimeSpan.Zero);
        AssertError("Relay:Timeouts:Mail", o => o.Relay.Timeouts.Mail = TimeSpan.Zero);
        AssertError("Relay:Timeouts:Rcpt", o => o.Relay.Timeouts.Rcpt = TimeSpan.Zero);
        AssertError("Relay:Timeouts:DataInitiation", o => o.Relay.Timeouts.DataInitiation = TimeSpan.Zero);
        AssertError("Relay:Timeouts:DataBlock", o => o.Relay.Timeouts.DataBlock = TimeSpan.Zero);
        AssertError("Relay:Timeouts:DataTermination", o => o.Relay.Timeouts.DataTermination = TimeSpan.FromDays(60));
        Assert.Empty(Errors(o => o.Relay.Timeouts.Connect = TimeSpan.FromMilliseconds(200))); // fast tests use short ones
    }

    [Fact]
    public void Resilience_values_are_range_checked()
    {
        AssertError("Relay:Resilience:AttemptTimeout", o => o.Relay.Resilience.AttemptTimeout = TimeSpan.Zero);
        AssertError("Relay:Resilience:ConnectRetries", o => o.Relay.Resilience.ConnectRetries = -1);
        AssertError("Relay:Resilience:ConnectRetryDelay", o => o.Relay.Resilience.ConnectRetryDelay = TimeSpan.FromSeconds(-1));
        AssertError("Relay:Resilience:BreakerMinimumThroughput", o => o.Relay.Resilience.BreakerMinimumThroughput = 1);
        AssertError("Relay:Resilience:BreakerFailureRatio", o => o.Relay.Resilience.BreakerFailureRatio = 0);
        AssertError("Relay:Resilience:BreakerFailureRatio", o => o.Relay.Resilience.BreakerFailureRatio = 1.5);
        AssertError("Relay:Resilience:BreakerSamplingDuration", o => o.Relay.Resilience.BreakerSamplingDuration = TimeSpan.FromMilliseconds(100));
        AssertError("Relay:Resilience:BreakDuration", o => o.Relay.Resilience.BreakDuration = TimeSpan.Zero);
        AssertError("Relay:Resilience:DestinationConcurrency", o => o.Relay.Resilience.DestinationConcurrency = 0);
        AssertError("Relay:Resilience:ConnectionCacheTime", o => o.Relay.Resilience.ConnectionCacheTime = TimeSpan.FromSeconds(-1));
        AssertError("Relay:Resilience:MaxTransactionsPerConnection", o => o.Relay.Resilience.MaxTransactionsPerConnection = 0);
        Assert.Empty(Errors(o => o.Relay.Resilience.ConnectionCacheTime = TimeSpan.Zero)); // zero turns the cache off
    }

    [Fact]
    public void Queue_delay_warning_bounce_size_and_deferred_share_are_checked()
    {
        AssertError("Queue:DelayWarningAfter", o => o.Queue.DelayWarningAfter = TimeSpan.Zero);
        AssertError("Queue:BounceSizeLimit", o => o.Queue.BounceSizeLimit = 999);
        AssertError("Queue:DeferredShare", o => o.Queue.DeferredShare = 1);
        Assert.Empty(Errors(o => { o.Queue.DelayWarningAfter = null; o.Queue.BounceSizeLimit = 1000; o.Queue.DeferredShare = 2; }));
    }
}
