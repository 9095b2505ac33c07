// The address-map keys (delimiter, Virtual, Canonical, Relay:Domains, verification): defaults off, bad values named by key.
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class AddressMapConfigurationTests
{
    [Fact]
    public void The_defaults_are_off_and_valid()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.Null(options.Mailboxes.RecipientDelimiter);
        Assert.Empty(options.Virtual.Domains);
        Assert.Empty(options.Virtual.AliasFiles);
        Assert.Empty(options.Canonical.SenderFiles);
        Assert.True(options.Canonical.RewriteHeaders);
        Assert.Empty(options.Relay.Domains);
        Assert.Equal(TimeSpan.FromDays(1), options.Relay.RecipientVerification.PositiveCacheTime);
        Assert.Equal(TimeSpan.FromHours(1), options.Relay.RecipientVerification.NegativeCacheTime);
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()], LocalDomains = ["example.org"] };
        options.Mailboxes.RecipientDelimiter = "a";
        options.Virtual.Domains["example.org"] = new VirtualDomainOptions { Users = ["ok", "../x"] };
        options.Virtual.Domains["not a domain"] = new VirtualDomainOptions();
        options.Virtual.AliasFiles = [" "];
        options.Canonical.RecipientFiles = [""];
        options.Relay.Domains["example.org"] = new RelayDomainOptions();
        options.Relay.RecipientVerification.Timeout = TimeSpan.Zero;
        options.Relay.RecipientVerification.CacheSize = -1;

        var errors = MtaOptionsValidator.Validate(options);
        foreach (var key in new[]
        {
            "Mailboxes:RecipientDelimiter:", "Virtual:Domains:example.org:", "Virtual:Domains:example.org:Users:1:",
            "Virtual:Domains:not a domain:", "Virtual:AliasFiles:0:", "Canonical:RecipientFiles:0:", "Relay:Domains:example.org:",
            "Relay:RecipientVerification:Timeout:", "Relay:RecipientVerification:CacheSize:",
        })
        {
            Assert.Contains(errors, e => e.StartsWith(key, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("+")]
    [InlineData("+-")]
    [InlineData("=")]
    public void Usual_delimiters_are_valid(string delimiter)
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Mailboxes.RecipientDelimiter = delimiter;
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }
}
