// The Web section: configured URLs replace the loopback default instead of joining it; bad values are named by key.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class WebConfigurationTests
{
    private static MtaOptions Bind(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().Get<MtaOptions>() ?? new MtaOptions();

    [Fact]
    public void Unset_urls_mean_loopback_port_8089()
    {
        var options = Bind(new() { ["Web:Enabled"] = "true" });
        Assert.Equal(["http://127.0.0.1:8089"], options.Web.EffectiveUrls);
    }

    [Fact]
    public void Configured_urls_replace_the_default_rather_than_join_it()
    {
        var options = Bind(new() { ["Web:Enabled"] = "true", ["Web:Urls:0"] = "http://127.0.0.1:8097", ["Web:Urls:1"] = "http://[::1]:8097" });
        Assert.Equal(["http://127.0.0.1:8097", "http://[::1]:8097"], options.Web.EffectiveUrls);
    }

    [Theory]
    [InlineData("https://127.0.0.1:8089")]
    [InlineData("http://console.example:8089")]
    [InlineData("http://127.0.0.1:8089/console")]
    [InlineData("127.0.0.1:8089")]
    public void A_url_that_is_not_http_address_port_is_named_by_its_key(string url)
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Web.Urls = [url];
        Assert.Contains(MtaOptionsValidator.Validate(options), e => e.StartsWith("Web:Urls:0:", StringComparison.Ordinal));
    }

    [Fact]
    public void An_admin_name_the_users_file_cannot_hold_is_refused()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Web.Admins = ["ok", "has:colon", "has space"];
        var errors = MtaOptionsValidator.Validate(options);
        Assert.DoesNotContain(errors, e => e.StartsWith("Web:Admins:0:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Web:Admins:1:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Web:Admins:2:", StringComparison.Ordinal));
    }
}
