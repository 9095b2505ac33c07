// Macro expansion: the examples of RFC 7208 section 7.4, URL escaping, explanation-only letters and truncation.
using System.Net;
using Mta.Engine.Authentication.Spf;

namespace Mta.Engine.Tests.Authentication.Spf;

public sealed class SpfMacroExpanderTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    // RFC 7208 7.4: sender strong-bad@email.example.com, client 192.0.2.3 or 2001:db8::cb01, PTR name mx.example.org.
    private static SpfMacroContext Rfc(string ip = "192.0.2.3") =>
        new("strong-bad@email.example.com", "email.example.com", IPAddress.Parse(ip), "mx.example.org", "receiver.example.net", Now, "mx.example.org");

    private static string Expand(string text, SpfMacroContext context, SpfMacroUse use = SpfMacroUse.Explanation)
    {
        Assert.True(SpfMacroString.TryParse(text, use, out var macro, out var error), error);
        return SpfMacroExpander.Expand(macro!, context);
    }

    public static TheoryData<string, string> Rfc7208Section74() => new()
    {
        { "%{s}", "strong-bad@email.example.com" },
        { "%{o}", "email.example.com" },
        { "%{d}", "email.example.com" },
        { "%{d4}", "email.example.com" },
        { "%{d3}", "email.example.com" },
        { "%{d2}", "example.com" },
        { "%{d1}", "com" },
        { "%{dr}", "com.example.email" },
        { "%{d2r}", "example.email" },
        { "%{l}", "strong-bad" },
        { "%{l-}", "strong.bad" },
        { "%{lr}", "strong-bad" },
        { "%{lr-}", "bad.strong" },
        { "%{l1r-}", "strong" },
        { "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
        { "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
        { "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
        { "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com" },
        { "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net" },
        { "%{p}", "mx.example.org" },
        { "%{h}", "mx.example.org" },
    };

    [Theory]
    [MemberData(nameof(Rfc7208Section74))]
    public void RFC_7208_section_7_4_examples_expand_as_the_RFC_says(string macro, string expected) =>
        Assert.Equal(expected, Expand(macro, Rfc(), SpfMacroUse.DomainSpec));

    [Fact]
    public void RFC_7208_section_7_4_IPv6_example_uses_dotted_nibbles() =>
        Assert.Equal("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
            Expand("%{ir}.%{v}._spf.%{d2}", Rfc("2001:db8::cb01"), SpfMacroUse.DomainSpec));

    [Theory]
    [InlineData("%{i}", "192.0.2.3", "192.0.2.3")]
    [InlineData("%{i}", "2001:db8::cb01", "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1")]
    [InlineData("%{v}", "192.0.2.3", "in-addr")]
    [InlineData("%{c}", "192.0.2.3", "192.0.2.3")]
    [InlineData("%{c}", "2001:db8::cb01", "2001:db8::cb01")]
    [InlineData("%{r}", "192.0.2.3", "receiver.example.net")]
    [InlineData("%{t}", "192.0.2.3", "1700000000")]
    [InlineData("%{t1}", "192.0.2.3", "1700000000")]
    [InlineData("%{S}", "192.0.2.3", "strong-bad%40email.example.com")]
    [InlineData("%{L}", "192.0.2.3", "strong-bad")]
    [InlineData("%{C}", "2001:db8::cb01", "2001%3Adb8%3A%3Acb01")]
    [InlineData("%% %_ %-", "192.0.2.3", "%   %20")]
    [InlineData("%{d2}%%", "192.0.2.3", "example.com%")]
    [InlineData("%{s-}", "192.0.2.3", "strong.bad@email.example.com")]
    [InlineData("%{s1-}", "192.0.2.3", "bad@email.example.com")]
    [InlineData("%{s2-.}", "192.0.2.3", "example.com")]
    [InlineData("%{o2+,/_=}", "192.0.2.3", "email.example.com")]
    [InlineData("%{d100}", "192.0.2.3", "email.example.com")]
    [InlineData("%{d99999999999999999999}", "192.0.2.3", "email.example.com")]
    public void Macro_letters_and_transformers(string macro, string ip, string expected) =>
        Assert.Equal(expected, Expand(macro, Rfc(ip)));

    [Fact]
    public void An_explanation_keeps_its_spaces_and_macros() =>
        Assert.Equal("192.0.2.3 is not one of email.example.com's designated mail servers.",
            Expand("%{i} is not one of %{d}'s designated mail servers.", Rfc()));

    [Fact]
    public void A_sender_without_local_part_expands_l_to_postmaster()
    {
        var context = Rfc() with { Sender = "email.example.com" };
        Assert.Equal(("postmaster", "email.example.com"), (Expand("%{l}", context), Expand("%{o}", context)));
    }

    [Fact]
    public void Non_ascii_is_escaped_as_utf8() =>
        Assert.Equal("j%C3%B6rg", Expand("%{L}", Rfc() with { Sender = "jörg@example.com" }));

    [Theory]
    [InlineData("%{c}")]
    [InlineData("%{r}")]
    [InlineData("%{t}")]
    [InlineData("a b")]
    public void Explanation_only_syntax_is_refused_in_a_domain_spec(string text) =>
        Assert.False(SpfMacroString.TryParse(text, SpfMacroUse.DomainSpec, out _, out _));

    [Fact]
    public void A_long_expansion_is_cut_from_the_left_label_by_label()
    {
        var longLocal = string.Join('.', Enumerable.Repeat("abcdefghij", 30)); // 329 characters
        var context = Rfc() with { Sender = longLocal + "@example.com" };
        Assert.True(SpfRecord.TryParse("v=spf1 exists:%{l}._spf.example.com", out var record, out _));
        var expanded = SpfMacroExpander.ExpandDomain(record!.Mechanisms[0].Domain!, context);
        Assert.True(expanded.Length <= SpfMacroExpander.MaxDomainLength, expanded);
        Assert.EndsWith("abcdefghij._spf.example.com", expanded);
        Assert.StartsWith("abcdefghij.", expanded);
        Assert.True(expanded.Length > SpfMacroExpander.MaxDomainLength - 11);
    }

    [Theory]
    [InlineData("a.b.c", "a.b.c")]
    [InlineData("example.com.", "example.com")]
    public void A_short_domain_is_kept(string text, string expected)
    {
        Assert.True(SpfMacroString.TryParse(text, SpfMacroUse.DomainSpec, out var macro, out _));
        Assert.Equal(expected, SpfMacroExpander.ExpandDomain(macro!, Rfc()));
    }
}
