// Transport-map lookup order, Postfix bracket semantics, address literals, inheritance and password files.
using Mta.Engine.Configuration;
using Mta.Engine.Outbound.Routing;

namespace Mta.Engine.Tests.Outbound.Routing;

public sealed class NextHopSelectorTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static MtaOptions Options(Action<RelayOptions> configure)
    {
        var options = new MtaOptions();
        configure(options.Relay);
        return options;
    }

    [Fact]
    public void Without_routes_or_smart_host_the_domain_itself_is_looked_up_by_MX()
    {
        var selector = new NextHopSelector(Options(r => r.Tls = OutboundTlsPolicy.Encrypt));
        var hop = selector.Select("Example.ORG");
        Assert.Equal(new NextHop("example.org", "example.org", true, 25, OutboundTlsPolicy.Encrypt, null, null), hop);
    }

    [Fact]
    public void Chunking_follows_the_relay_default_unless_a_route_says_otherwise()
    {
        var selector = new NextHopSelector(Options(r =>
        {
            r.UseChunking = false;
            r.Routes["on.example"] = new NextHopOptions { Host = "[mx.example.net]", UseChunking = true };
            r.Routes["off.example"] = new NextHopOptions { Host = "[mx.example.net]" };
        }));
        Assert.False(selector.Select("example.org").UseChunking);
        Assert.True(selector.Select("on.example").UseChunking);
        Assert.False(selector.Select("off.example").UseChunking);
        // The same host with and without BDAT is two destinations: they never share a cached connection.
        Assert.NotEqual(selector.Select("on.example").Key, selector.Select("off.example").Key);
        Assert.Contains("bdat=off", selector.Select("off.example").Key);

        var byDefault = new NextHopSelector(Options(r => r.SmartHost = new NextHopOptions { Host = "[relay.isp.test]", UseChunking = false }));
        Assert.False(byDefault.Select("x.example").UseChunking);
        Assert.True(new NextHopSelector(new MtaOptions()).Select("example.org").UseChunking);
        Assert.Equal("example.org", new NextHopSelector(new MtaOptions()).Select("example.org").Key);
    }

    [Fact]
    public void A_trailing_root_dot_names_the_same_destination()
    {
        var selector = new NextHopSelector(new MtaOptions());
        Assert.Equal(selector.Select("example.org"), selector.Select("example.org."));
    }

    [Fact]
    public void An_exact_route_wins_over_a_parent_route_and_the_smart_host()
    {
        var selector = new NextHopSelector(Options(r =>
        {
            r.SmartHost = new NextHopOptions { Host = "[relay.isp.test]", Port = 587 };
            r.Routes["sub.example.org"] = new NextHopOptions { Host = "[exact.example.org]" };
            r.Routes[".example.org"] = new NextHopOptions { Host = "[parent.example.org]" };
        }));
        var hop = selector.Select("SUB.example.org");
        Assert.Equal("exact.example.org", hop.Host);
        Assert.Equal("[exact.example.org]:25", hop.Name);
    }

    [Fact]
    public void A_dot_key_matches_subdomains_at_any_depth_but_not_the_domain_itself()
    {
        var selector = new NextHopSelector(Options(r => r.Routes[".example.org"] = new NextHopOptions { Host = "[inner.example.org]" }));
        Assert.Equal("inner.example.org", selector.Select("a.example.org").Host);
        Assert.Equal("inner.example.org", selector.Select("x.y.z.example.org").Host);
        var own = selector.Select("example.org");
        Assert.True(own.UseMx);
        Assert.Equal("example.org", own.Host);
        Assert.Equal("notexample.org", selector.Select("notexample.org").Host);
    }

    [Fact]
    public void The_longest_matching_suffix_wins()
    {
        var selector = new NextHopSelector(Options(r =>
        {
            r.Routes[".example.org"] = new NextHopOptions { Host = "[outer.test]" };
            r.Routes[".dept.example.org"] = new NextHopOptions { Host = "[dept.test]" };
        }));
        Assert.Equal("dept.test", selector.Select("mail.dept.example.org").Host);
        Assert.Equal("outer.test", selector.Select("sales.example.org").Host);
    }

    [Fact]
    public void Every_domain_through_the_smart_host_shares_one_destination_name()
    {
        var selector = new NextHopSelector(Options(r => r.SmartHost = new NextHopOptions { Host = "[Relay.ISP.test]", Port = 587 }));
        var a = selector.Select("a.test");
        var b = selector.Select("b.test");
        Assert.Same(a, b);
        Assert.Equal("[relay.isp.test]:587", a.Name);
        Assert.Equal("relay.isp.test", a.Host);
        Assert.False(a.UseMx);
        Assert.Equal(587, a.Port);
    }

    [Fact]
    public void Brackets_mean_no_MX_and_a_bare_name_means_MX()
    {
        var selector = new NextHopSelector(Options(r =>
        {
            r.Routes["bracketed.test"] = new NextHopOptions { Host = "[mail.bracketed.test]" };
            r.Routes["bare.test"] = new NextHopOptions { Host = "mail.bare.test", Port = 2525 };
            r.Routes["ip.test"] = new NextHopOptions { Host = "[192.0.2.7]" };
            r.Routes["ip6.test"] = new NextHopOptions { Host = "[IPv6:2001:db8::7]" };
        }));
        var bracketed = selector.Select("bracketed.test");
        Assert.False(bracketed.UseMx);
        Assert.Equal("mail.bracketed.test", bracketed.Host);

        var bare = selector.Select("bare.test");
        Assert.True(bare.UseMx);
        Assert.Equal("mail.bare.test", bare.Host);
        Assert.Equal("mail.bare.test:2525", bare.Name);

        var ip = selector.Select("ip.test");
        Assert.False(ip.UseMx);
        Assert.Equal("192.0.2.7", ip.Host);

        var ip6 = selector.Select("ip6.test");
        Assert.False(ip6.UseMx);
        Assert.Equal("2001:db8::7", ip6.Host);
    }

    [Fact]
    public void A_bare_IP_address_is_taken_as_bracketed()
    {
        var selector = new NextHopSelector(Options(r => r.SmartHost = new NextHopOptions { Host = "192.0.2.9" }));
        var hop = selector.Select("any.test");
        Assert.False(hop.UseMx);
        Assert.Equal("192.0.2.9", hop.Host);
    }

    [Fact]
    public void A_numeric_host_name_is_not_mistaken_for_a_legacy_IP_form()
    {
        var selector = new NextHopSelector(Options(r => r.Routes["example.org"] = new NextHopOptions { Host = "[1234]" }));
        Assert.Equal("1234", selector.Select("example.org").Host);
        Assert.Null(NextHopSelector.TryParseAddressLiteral("[10.1]"));
    }

    [Theory]
    [InlineData("[192.0.2.1]", "192.0.2.1")]
    [InlineData("[IPv6:2001:db8::1]", "2001:db8::1")]
    [InlineData("[ipv6:2001:DB8::1]", "2001:db8::1")]
    public void An_address_literal_domain_goes_to_that_address(string domain, string ip)
    {
        var selector = new NextHopSelector(Options(r => r.Routes[".example.org"] = new NextHopOptions { Host = "[x.test]" }));
        var hop = selector.Select(domain);
        Assert.False(hop.UseMx);
        Assert.Equal(ip, hop.Host);
        Assert.Equal(25, hop.Port);
        Assert.Equal(domain.ToLowerInvariant(), hop.Name);
    }

    [Fact]
    public void The_smart_host_also_takes_address_literal_domains()
    {
        var selector = new NextHopSelector(Options(r => r.SmartHost = new NextHopOptions { Host = "[relay.test]" }));
        Assert.Equal("relay.test", selector.Select("[192.0.2.1]").Host);
    }

    [Fact]
    public void Tls_is_inherited_from_Relay_unless_the_entry_sets_it_and_the_port_defaults_to_25()
    {
        var selector = new NextHopSelector(Options(r =>
        {
            r.Tls = OutboundTlsPolicy.Verify;
            r.Routes["inherit.test"] = new NextHopOptions { Host = "[a.test]" };
            r.Routes["own.test"] = new NextHopOptions { Host = "[b.test]", Tls = OutboundTlsPolicy.None, Port = 10025 };
        }));
        var inherit = selector.Select("inherit.test");
        Assert.Equal(OutboundTlsPolicy.Verify, inherit.Tls);
        Assert.Equal(25, inherit.Port);
        var own = selector.Select("own.test");
        Assert.Equal(OutboundTlsPolicy.None, own.Tls);
        Assert.Equal(10025, own.Port);
        Assert.Equal(OutboundTlsPolicy.Verify, selector.Select("elsewhere.test").Tls);
    }

    [Fact]
    public void Credentials_come_from_the_entry_or_the_first_line_of_the_password_file()
    {
        var file = Path.Combine(_dir.Path, "relay.pw");
        File.WriteAllText(file, "  s3cret  \nsecond line ignored\n");
        var selector = new NextHopSelector(Options(r =>
        {
            r.SmartHost = new NextHopOptions { Host = "[relay.test]", UserName = "me", PasswordFile = file };
            r.Routes["inline.test"] = new NextHopOptions { Host = "[b.test]", UserName = "you", Password = "pw" };
        }));
        var smart = selector.Select("x.test");
        Assert.Equal(("me", "s3cret"), (smart.UserName, smart.Password));
        var inline = selector.Select("inline.test");
        Assert.Equal(("you", "pw"), (inline.UserName, inline.Password));
        Assert.DoesNotContain("s3cret", smart.ToString());
    }

    [Fact]
    public void The_password_file_is_read_once_at_construction()
    {
        var file = Path.Combine(_dir.Path, "relay.pw");
        File.WriteAllText(file, "first\n");
        var selector = new NextHopSelector(Options(r => r.SmartHost = new NextHopOptions { Host = "[relay.test]", UserName = "me", PasswordFile = file }));
        File.WriteAllText(file, "changed\n");
        Assert.Equal("first", selector.Select("x.test").Password);
    }

    [Fact]
    public void A_missing_password_file_stops_start_up_naming_the_key()
    {
        var missing = Path.Combine(_dir.Path, "nope.pw");
        var ex = Assert.Throws<StartupException>(() => new NextHopSelector(Options(r =>
            r.Routes["example.org"] = new NextHopOptions { Host = "[relay.test]", UserName = "me", PasswordFile = missing })));
        Assert.Contains("Relay:Routes:example.org:PasswordFile", ex.Message);
        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public void An_empty_password_file_stops_start_up()
    {
        var file = Path.Combine(_dir.Path, "empty.pw");
        File.WriteAllText(file, "\n");
        var ex = Assert.Throws<StartupException>(() => new NextHopSelector(Options(r =>
            r.SmartHost = new NextHopOptions { Host = "[relay.test]", UserName = "me", PasswordFile = file })));
        Assert.Contains("Relay:SmartHost:PasswordFile", ex.Message);
    }
}
