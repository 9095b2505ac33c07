// Organizational domains (RFC 7489 3.2) from a small hand-made list and from the real one (Debian's or the shipped copy).
using Mta.Engine.Authentication.Dmarc;

namespace Mta.Engine.Tests.Authentication.Dmarc;

public class PublicSuffixListTests
{
    private const string SmallList = """
        // This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
        // ===BEGIN ICANN DOMAINS===
        com
        uk
        co.uk
        jp
        // a wildcard and its exception, as for kawasaki.jp
        *.kawasaki.jp
        !city.kawasaki.jp
        *.ck
        !www.ck
        // IDN rule, written as a U-label
        公司.cn
        cn
        example  a comment after the rule
        // ===END ICANN DOMAINS===
        // ===BEGIN PRIVATE DOMAINS===
        github.io
        // ===END PRIVATE DOMAINS===
        """;

    private static readonly PublicSuffixList Small = PublicSuffixList.Parse(SmallList);

    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("a.b.example.com", "example.com")]
    [InlineData("Mail.EXAMPLE.com.", "example.com")]
    [InlineData("example.co.uk", "example.co.uk")]
    [InlineData("mail.example.co.uk", "example.co.uk")]
    [InlineData("example.uk", "example.uk")]
    [InlineData("a.b.kawasaki.jp", "a.b.kawasaki.jp")]          // *.kawasaki.jp: b.kawasaki.jp is a suffix
    [InlineData("x.a.b.kawasaki.jp", "a.b.kawasaki.jp")]
    [InlineData("city.kawasaki.jp", "city.kawasaki.jp")]        // !city.kawasaki.jp: its suffix is kawasaki.jp
    [InlineData("www.city.kawasaki.jp", "city.kawasaki.jp")]
    [InlineData("a.b.ck", "a.b.ck")]
    [InlineData("www.ck", "www.ck")]
    [InlineData("mail.www.ck", "www.ck")]
    [InlineData("user.github.io", "user.github.io")]            // PRIVATE section used by default
    [InlineData("www.user.github.io", "user.github.io")]
    [InlineData("example.test", "example.test")]                // unlisted TLD: the default rule "*"
    [InlineData("a.b.example.test", "example.test")]
    [InlineData("shop.例子.公司.cn", "xn--fsqu00a.xn--55qx5d.cn")] // U-labels compared as A-labels
    [InlineData("shop.xn--fsqu00a.xn--55qx5d.cn", "xn--fsqu00a.xn--55qx5d.cn")]
    [InlineData("a.b.example", "b.example")]                    // the text after the rule's whitespace is ignored
    public void Organizational_domain_is_the_public_suffix_plus_one_label(string domain, string expected) =>
        Assert.Equal(expected, Small.OrganizationalDomain(domain));

    [Theory]
    [InlineData("com")]
    [InlineData("co.uk")]
    [InlineData("CO.UK.")]
    [InlineData("b.kawasaki.jp")]
    [InlineData("anything.ck")]
    [InlineData("github.io")]
    [InlineData("test")]
    public void A_public_suffix_has_no_organizational_domain(string domain)
    {
        Assert.True(Small.IsPublicSuffix(domain));
        Assert.Null(Small.OrganizationalDomain(domain));
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData("city.kawasaki.jp")]
    [InlineData("kawasaki.jp")]                                   // only *.kawasaki.jp is listed, not kawasaki.jp
    [InlineData("www.ck")]
    [InlineData("user.github.io")]
    public void A_registrable_domain_is_not_a_public_suffix(string domain) => Assert.False(Small.IsPublicSuffix(domain));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(".")]
    [InlineData("a..example.com")]
    [InlineData("exa mple.com")]
    [InlineData("[192.0.2.1]")]
    [InlineData("\uFFFDebMAR.COMC1; p=reject")]                  // found by the fuzzer: punctuation beside a non-ASCII letter
    [InlineData("例子.cn;x")]
    [InlineData("例子. cn")]
    public void Not_a_domain_name_has_no_organizational_domain(string domain)
    {
        Assert.Null(Small.OrganizationalDomain(domain));
        Assert.False(Small.IsPublicSuffix(domain));
    }

    [Fact]
    public void ICANN_only_ignores_the_private_section()
    {
        var icann = PublicSuffixList.Parse(SmallList, icannOnly: true);
        Assert.Equal("github.io", icann.OrganizationalDomain("www.user.github.io"));
        Assert.False(icann.IsPublicSuffix("github.io"));
    }

    [Fact]
    public void Load_reads_a_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"psl-{Guid.NewGuid():N}.dat");
        File.WriteAllText(path, SmallList);
        try
        {
            var list = PublicSuffixList.Load(path);
            Assert.Equal(path, list.Source);
            Assert.Equal("example.co.uk", list.OrganizationalDomain("www.example.co.uk"));
            Assert.Null(list.OrganizationalDomain("co.uk"));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Load_of_a_missing_file_throws_for_the_configuration_to_report() =>
        Assert.ThrowsAny<IOException>(() => PublicSuffixList.Load("/nonexistent/public_suffix_list.dat"));

    [Fact]
    public void LoadOrDefault_without_a_path_is_the_default_singleton()
    {
        Assert.Same(PublicSuffixList.Default, PublicSuffixList.LoadOrDefault(null));
        Assert.Same(PublicSuffixList.Default, PublicSuffixList.LoadOrDefault(""));
    }

    [Fact]
    public void Default_prefers_the_Debian_file_and_falls_back_to_the_shipped_copy()
    {
        var expected = File.Exists(PublicSuffixList.DebianPath) ? PublicSuffixList.DebianPath : "embedded";
        Assert.Equal(expected, PublicSuffixList.Default.Source);
    }

    public static TheoryData<string> RealLists() => ["default", "embedded"];

    [Theory]
    [MemberData(nameof(RealLists))]
    public void The_real_list_gives_the_expected_organizational_domains(string which)
    {
        var list = which == "default" ? PublicSuffixList.Default : PublicSuffixList.LoadEmbedded();
        Assert.True(list.RuleCount > 5000, $"only {list.RuleCount} rules");
        Assert.Equal("example.co.uk", list.OrganizationalDomain("example.co.uk"));
        Assert.Equal("example.co.uk", list.OrganizationalDomain("mail.example.co.uk"));
        Assert.Equal("example.com", list.OrganizationalDomain("a.b.example.com"));
        Assert.Null(list.OrganizationalDomain("co.uk"));
        Assert.True(list.IsPublicSuffix("com"));
        // *.kawasaki.jp with the exception !city.kawasaki.jp.
        Assert.True(list.IsPublicSuffix("foo.kawasaki.jp"));
        Assert.Equal("bar.foo.kawasaki.jp", list.OrganizationalDomain("www.bar.foo.kawasaki.jp"));
        Assert.Equal("city.kawasaki.jp", list.OrganizationalDomain("www.city.kawasaki.jp"));
        // A PRIVATE entry.
        Assert.Equal("user.github.io", list.OrganizationalDomain("www.user.github.io"));
    }
}
