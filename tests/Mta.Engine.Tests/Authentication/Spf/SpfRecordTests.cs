// SpfRecord: valid and malformed v=spf1 records (RFC 7208 4.5, 5, 6, 7.1, 12), record selection, parsed values.
using System.Net;
using Mta.Engine.Authentication.Spf;

namespace Mta.Engine.Tests.Authentication.Spf;

public sealed class SpfRecordTests
{
    public static TheoryData<string, int> ValidRecords() => new()
    {
        { "v=spf1", 0 },
        { "v=spf1 -all", 1 },
        { "V=SPF1 +ALL", 1 },
        { "v=spf1 a mx ptr -all", 4 },
        { "v=spf1 a:example.com/24 mx:example.com//64 a/24//64 ~all", 4 },
        { "v=spf1 A:Example.COM MX:example.com/0 PTR:example.com ?ALL", 4 },
        { "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ?all", 3 },
        { "v=spf1 ip4:0.0.0.0/0 ip6:::/0 ip6:::ffff:192.0.2.1 ip4:255.255.255.255", 4 },
        { "v=spf1 include:_spf.example.com exists:%{ir}.%{l1r+-}._spf.%{d} -all", 3 },
        { "v=spf1 exists:%{i}.%{d}", 1 },
        { "v=spf1 exists:%{I}.%{D2R}.%{S}.%{l-+,/_=}.example.com", 1 },
        { "v=spf1 a:%%.%_.%-.example.com", 1 },
        { "v=spf1 redirect=_spf.example.com", 0 },
        { "v=spf1 -all exp=explain._spf.%{d}", 1 },
        { "v=spf1 foo=bar -all", 1 },
        { "v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all", 2 },
        { "v=spf1 x=%{c}%{r}%{t} -all", 1 },
        { "v=spf1  -all  ", 1 },
        { "v=spf1 a:foo.example.com. -all", 2 },
        { "v=spf1 a:mail.example-1.co.uk//0", 1 },
        { "v=spf1 a:x.1-2", 1 },
        { "v=spf1 redirect=example.com exp=explain.example.com", 0 },
        { "v=spf1 exists:%{d100}.example.com", 1 },
    };

    [Theory]
    [MemberData(nameof(ValidRecords))]
    public void Valid_records_parse(string text, int mechanisms)
    {
        Assert.True(SpfRecord.TryParse(text, out var record, out var error), error);
        Assert.Null(error);
        Assert.Equal(mechanisms, record!.Mechanisms.Count);
    }

    public static TheoryData<string> MalformedRecords() =>
    [
        "v=spf1 -all foo",
        "v=spf1 foo:example.com",
        "v=spf1 ip4:192.0.2.256",
        "v=spf1 ip4:192.0.2.1/33",
        "v=spf1 ip4:192.0.2.01",
        "v=spf1 ip4:192.0.2",
        "v=spf1 ip4:192.0.2.1/024",
        "v=spf1 ip4:192.0.2.1/",
        "v=spf1 ip4:",
        "v=spf1 ip4",
        "v=spf1 ip4:2001:db8::1",
        "v=spf1 ip6:2001:db8::/129",
        "v=spf1 ip6:192.0.2.1",
        "v=spf1 ip6:2001:db8::1%eth0",
        "v=spf1 ip6:[2001:db8::1]",
        "v=spf1 a:example.com/33",
        "v=spf1 a/-1",
        "v=spf1 mx//129",
        "v=spf1 a:example.com/24/64",
        "v=spf1 a:foo.example.com//",
        "v=spf1 a:",
        "v=spf1 a:example.com:",
        "v=spf1 include",
        "v=spf1 include:",
        "v=spf1 exists",
        "v=spf1 exists:",
        "v=spf1 ptr:",
        "v=spf1 all:example.com",
        "v=spf1 -all/24",
        "v=spf1 a:example.123",
        "v=spf1 a:com",
        "v=spf1 a:com.",
        "v=spf1 a:example.-com",
        "v=spf1 a:example.com-",
        "v=spf1 a:example..",
        "v=spf1 redirect=a.example.com redirect=b.example.com",
        "v=spf1 REDIRECT=a.example.com redirect=b.example.com",
        "v=spf1 exp=a.example.com exp=b.example.com",
        "v=spf1 redirect=",
        "v=spf1 exp=",
        "v=spf1 redirect=example",
        "v=spf1 exists:%{z}.example.com",
        "v=spf1 exists:%{t}.example.com",
        "v=spf1 exists:%{c}.example.com",
        "v=spf1 exists:%{r}.example.com",
        "v=spf1 exists:%{d0}.example.com",
        "v=spf1 exists:%{}.example.com",
        "v=spf1 exists:%{d}%example.com",
        "v=spf1 exists:%{d.example.com",
        "v=spf1 exists:%{d*}.example.com",
        "v=spf1 exists:%{dr2}.example.com",
        "v=spf1 exists:%{d}.example.com%",
        "v=spf1 exists:%{d}.com%{",
        "v=spf1 a:exa\u00e9mple.com",
        "v=spf1 a:exa\tmple.com",
        "v=spf1 ++all",
        "v=spf1 -",
        "v=spf1 =foo",
        "v=spf1 -redirect=x.example.com",
        "v=spf1 foo=%",
        "v=spf1 foo=%{x}",
        "v=spf1 1foo=bar",
        "v=spf1 -all\t",
    ];

    [Theory]
    [MemberData(nameof(MalformedRecords))]
    public void Malformed_records_are_errors(string text)
    {
        Assert.False(SpfRecord.TryParse(text, out var record, out var error));
        Assert.Null(record);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("v=spf10 -all")]
    [InlineData("spf2.0/mfrom -all")]
    [InlineData("")]
    [InlineData(" v=spf1 -all")]
    public void Other_text_is_not_an_spf_record(string text)
    {
        Assert.False(SpfRecord.IsSpfRecord(text));
        Assert.False(SpfRecord.TryParse(text, out _, out _));
    }

    [Fact]
    public void Dual_cidr_lengths_and_domains_are_parsed()
    {
        Assert.True(SpfRecord.TryParse("v=spf1 a:example.com/24//64 mx//96 -a/0 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/48 +ptr exists:%{d}", out var record, out _));
        var m = record!.Mechanisms;
        Assert.Equal((SpfQualifier.Pass, SpfMechanismKind.A, "example.com", 24, 64), (m[0].Qualifier, m[0].Kind, m[0].Domain?.Text, m[0].Ip4Prefix, m[0].Ip6Prefix));
        Assert.Equal((SpfMechanismKind.Mx, (string?)null, 32, 96), (m[1].Kind, m[1].Domain?.Text, m[1].Ip4Prefix, m[1].Ip6Prefix));
        Assert.Equal((SpfQualifier.Fail, 0, 128), (m[2].Qualifier, m[2].Ip4Prefix, m[2].Ip6Prefix));
        Assert.Equal((SpfQualifier.SoftFail, IPAddress.Parse("192.0.2.0"), 24), (m[3].Qualifier, m[3].Network, m[3].Ip4Prefix));
        Assert.Equal((SpfQualifier.Neutral, IPAddress.Parse("2001:db8::"), 48), (m[4].Qualifier, m[4].Network, m[4].Ip6Prefix));
        Assert.Equal((SpfMechanismKind.Ptr, "+ptr"), (m[5].Kind, m[5].Text));
        Assert.Equal(SpfMechanismKind.Exists, m[6].Kind);
        Assert.True(m[6].Domain!.UsesValidatedName is false && !m[6].Domain!.IsLiteral);
        Assert.Null(record.Redirect);
        Assert.Null(record.Explanation);
    }

    [Fact]
    public void Modifiers_are_kept_and_unknown_ones_dropped()
    {
        Assert.True(SpfRecord.TryParse("v=spf1 other=thing redirect=_spf.%{d} exp=why.example.com", out var record, out _));
        Assert.Equal("_spf.%{d}", record!.Redirect!.Text);
        Assert.Equal("why.example.com", record.Explanation!.Text);
        Assert.Empty(record.Mechanisms);
    }

    [Fact]
    public void Selection_takes_exactly_one_v_spf1_record()
    {
        Assert.True(SpfRecord.TrySelect(["google-site-verification=x", "v=spf1 -all", "v=spf10 +all"], out var record, out var error));
        Assert.Equal(("v=spf1 -all", (string?)null), (record, error));

        Assert.False(SpfRecord.TrySelect(["v=spf1 -all", "V=SPF1 +all"], out record, out error));
        Assert.Null(record);
        Assert.NotNull(error);

        Assert.False(SpfRecord.TrySelect(["spf2.0/pra -all", "v=spf1x"], out record, out error));
        Assert.Equal((null, null), (record, error));

        Assert.True(SpfRecord.TrySelect(["V=SPF1"], out record, out _));
        Assert.Equal("V=SPF1", record);
    }
}
