// DkimSigningValidator: each rule reports the configuration key it is about.
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class DkimSigningValidatorTests
{
    private static List<string> Errors(Action<DkimSigningOptions> configure)
    {
        var options = new MtaOptions();
        configure(options.Authentication.Signing);
        var errors = new List<string>();
        DkimSigningValidator.Validate(options, (ok, key, why) => { if (!ok) errors.Add($"{key}: {why}"); });
        return errors;
    }

    private static DkimDomainOptions Domain(params DkimSelectorOptions[] selectors) => new() { Selectors = [.. selectors] };

    [Fact]
    public void The_defaults_and_a_rotation_are_valid()
    {
        Assert.Empty(Errors(_ => { }));
        Assert.Empty(Errors(s =>
        {
            s.Domains["example.org"] = Domain(
                new DkimSelectorOptions { Selector = "202611", Sign = false },
                new DkimSelectorOptions { Selector = "202612" },
                new DkimSelectorOptions { Selector = "ed.202612", Algorithm = DkimKeyAlgorithm.Ed25519 });
            s.Canonicalization = "simple/relaxed";
            s.Expiration = TimeSpan.FromDays(7);
        }));
    }

    [Theory]
    [InlineData("relaxed", "Authentication:Signing:Canonicalization")]
    [InlineData("relaxed/loose", "Authentication:Signing:Canonicalization")]
    public void A_bad_canonicalization_is_reported(string value, string key) =>
        Assert.StartsWith(key + ":", Assert.Single(Errors(s => s.Canonicalization = value)));

    [Fact]
    public void Selector_rules_are_reported_with_their_keys()
    {
        var errors = Errors(s => s.Domains["example.org"] = Domain(
            new DkimSelectorOptions { Selector = "a_b" },
            new DkimSelectorOptions { Selector = "s1", Sign = false },
            new DkimSelectorOptions { Selector = "S1", Sign = false },
            new DkimSelectorOptions { Selector = "s2" }));

        Assert.Contains(errors, e => e.StartsWith("Authentication:Signing:Domains:example.org:Selectors:0:Selector: 'a_b' is not a selector"));
        Assert.Contains(errors, e => e.StartsWith("Authentication:Signing:Domains:example.org:Selectors:2:Selector: 'S1' is listed twice"));
        Assert.Contains(errors, e => e.StartsWith("Authentication:Signing:Domains:example.org:Selectors: more than one Rsa selector"));
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Domain_rules_are_reported()
    {
        var errors = Errors(s =>
        {
            s.Domains["not a domain"] = Domain(new DkimSelectorOptions { Selector = "s" });
            s.Domains["example.org"] = Domain();
            s.Expiration = TimeSpan.Zero;
        });
        Assert.Contains("Authentication:Signing:Domains:not a domain: is not a domain name", errors);
        Assert.Contains("Authentication:Signing:Domains:example.org:Selectors: needs at least one selector", errors);
        Assert.Contains("Authentication:Signing:Expiration: must be at least one second when set", errors);
    }
}
