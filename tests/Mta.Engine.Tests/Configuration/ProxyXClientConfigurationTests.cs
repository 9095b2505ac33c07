// XClient:Networks and the listeners' PROXY keys: defaults off, and every bad value named by its key at start.
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class ProxyXClientConfigurationTests
{
    [Fact]
    public void The_defaults_are_off_and_valid()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.Empty(options.XClient.Networks);
        Assert.Equal(ProxyProtocolMode.None, options.Listeners[0].ProxyProtocol);
        Assert.Empty(options.Listeners[0].ProxyNetworks);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Listeners[0].ProxyTimeout);
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void A_proxy_listener_with_its_networks_is_valid()
    {
        var options = new MtaOptions
        {
            Listeners = [new ListenerOptions { ProxyProtocol = ProxyProtocolMode.V2, ProxyNetworks = ["10.0.0.5/32", "2001:db8::/64"] }],
        };
        options.XClient.Networks = ["127.0.0.1/32", "::1/128"];
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions
        {
            Listeners =
            [
                new ListenerOptions { Name = "a", ProxyProtocol = ProxyProtocolMode.Any, ProxyNetworks = ["10.0.0.300/32"], ProxyTimeout = TimeSpan.Zero },
                new ListenerOptions { Name = "b", ProxyProtocol = ProxyProtocolMode.V1 },
                new ListenerOptions { Name = "c", ProxyNetworks = ["10.0.0.5/32"] },
                new ListenerOptions { Name = "d", ProxyProtocol = (ProxyProtocolMode)9, ProxyNetworks = ["10.0.0.5/32"] },
            ],
        };
        options.XClient.Networks = ["127.0.0.1/32", "localhost"];
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Contains("Listeners:0:ProxyNetworks:0: '10.0.0.300/32' is not a network in CIDR form (e.g. 10.0.0.5/32)", errors);
        Assert.Contains("Listeners:0:ProxyTimeout: must be between 100 ms and 5 minutes", errors);
        Assert.Contains("Listeners:1:ProxyNetworks: must list the proxies' addresses when ProxyProtocol is on", errors);
        Assert.Contains("Listeners:2:ProxyNetworks: has no effect without ProxyProtocol (V1, V2 or Any)", errors);
        Assert.Contains("Listeners:3:ProxyProtocol: '9' is not a PROXY protocol mode (None, V1, V2, Any)", errors);
        Assert.Contains("XClient:Networks:1: 'localhost' is not a network in CIDR form (e.g. 192.0.2.0/24)", errors);
        Assert.Equal(6, errors.Count);
    }
}
