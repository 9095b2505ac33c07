// check_host() against a stub DNS server: every mechanism and modifier, qualifiers, include results, limits, errors.
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Authentication.Spf;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;
using Mta.Testing;

// The helpers Check and CheckPublished pass TestContext.Current.CancellationToken for every test.
#pragma warning disable xUnit1069

namespace Mta.Engine.Tests.Authentication.Spf;

public sealed class SpfEvaluatorTests : IAsyncLifetime
{
    private const int Timeout = 30_000;
    private const string Client = "192.0.2.3";
    private StubDnsServer _dns = null!;

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    private SpfEvaluator Evaluator(TimeSpan? queryTimeout = null, TimeSpan? budget = null, TimeProvider? time = null) =>
        new(new DnsResolver(new DnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = queryTimeout ?? TimeSpan.FromSeconds(5), Retries = 0 },
                TimeProvider.System, NullLogger<DnsResolver>.Instance),
            "receiver.example.net", time ?? TimeProvider.System, NullLogger<SpfEvaluator>.Instance)
        { TimeBudget = budget ?? TimeSpan.FromSeconds(20) };

    private Task<SpfCheck> Check(string record, string ip = Client, string domain = "example.com", string sender = "user@example.com")
    {
        _dns.AddTxt(domain, record);
        return Evaluator().CheckHostAsync(IPAddress.Parse(ip), domain, sender, "mail.example.com", TestContext.Current.CancellationToken);
    }

    private Task<SpfCheck> CheckPublished(string ip = Client, string domain = "example.com", string sender = "user@example.com", SpfEvaluator? evaluator = null) =>
        (evaluator ?? Evaluator()).CheckHostAsync(IPAddress.Parse(ip), domain, sender, "mail.example.com", TestContext.Current.CancellationToken);

    // ---- qualifiers and all

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 all", SpfResult.Pass)]
    [InlineData("v=spf1 +all", SpfResult.Pass)]
    [InlineData("v=spf1 -all", SpfResult.Fail)]
    [InlineData("v=spf1 ~all", SpfResult.SoftFail)]
    [InlineData("v=spf1 ?all", SpfResult.Neutral)]
    [InlineData("v=spf1 -ip4:192.0.2.3 +all", SpfResult.Fail)]
    [InlineData("v=spf1 ~ip4:192.0.2.3 +all", SpfResult.SoftFail)]
    [InlineData("v=spf1 ?ip4:192.0.2.3 +all", SpfResult.Neutral)]
    [InlineData("v=spf1 +ip4:192.0.2.3 -all", SpfResult.Pass)]
    [InlineData("v=spf1", SpfResult.Neutral)]
    [InlineData("v=spf1 ip4:198.51.100.1", SpfResult.Neutral)]
    [InlineData("V=SPF1 IP4:192.0.2.3 -ALL", SpfResult.Pass)]
    public async Task Qualifiers_give_their_results(string record, SpfResult expected)
    {
        var check = await Check(record);
        Assert.Equal(expected, check.Result);
        Assert.Equal(("user@example.com", "example.com"), (check.Identity, check.Domain));
    }

    [Fact(Timeout = Timeout)]
    public async Task The_detail_is_the_matched_mechanism()
    {
        var check = await Check("v=spf1 ip4:198.51.100.0/24 ~ip4:192.0.2.0/24 -all");
        Assert.Equal((SpfResult.SoftFail, "~ip4:192.0.2.0/24"), (check.Result, check.Detail));
    }

    // ---- ip4 / ip6

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 ip4:192.0.2.3 -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 ip4:192.0.2.0/24 -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 ip4:192.0.2.4/31 -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.2/31 -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 ip4:0.0.0.0/0 -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 ip4:198.51.100.0/24 -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.3 -all", "2001:db8::cb01", SpfResult.Fail)]
    [InlineData("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::cb01", SpfResult.Pass)]
    [InlineData("v=spf1 ip6:2001:db8::cb01 -all", "2001:db8::cb01", SpfResult.Pass)]
    [InlineData("v=spf1 ip6:2001:db8:0:1::/64 -all", "2001:db8::cb01", SpfResult.Fail)]
    [InlineData("v=spf1 ip6:::/0 -all", "2001:db8::cb01", SpfResult.Pass)]
    [InlineData("v=spf1 ip6:::/0 -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.3 -all", "::ffff:192.0.2.3", SpfResult.Pass)]
    [InlineData("v=spf1 ip6:::ffff:0:0/96 -all", "::ffff:192.0.2.3", SpfResult.Fail)]
    public async Task Ip4_and_ip6_match_by_prefix(string record, string ip, SpfResult expected) =>
        Assert.Equal(expected, (await Check(record, ip)).Result);

    // ---- a

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 a -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 a:hosts.example.com -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 a:other.example.com -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 a:other.example.com/24 -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 a:other.example.com/31 -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 a/24 -all", "192.0.2.200", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "192.0.2.200", SpfResult.Fail)]
    [InlineData("v=spf1 a -all", "2001:db8::cb01", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "2001:db8::cb02", SpfResult.Fail)]
    [InlineData("v=spf1 a//64 -all", "2001:db8::cb02", SpfResult.Pass)]
    [InlineData("v=spf1 a/32//64 -all", "2001:db8::cb02", SpfResult.Pass)]
    [InlineData("v=spf1 a/24//128 -all", "2001:db8::cb02", SpfResult.Fail)]
    [InlineData("v=spf1 a -all", "::ffff:192.0.2.3", SpfResult.Pass)]
    public async Task A_matches_the_domains_addresses(string record, string ip, SpfResult expected)
    {
        _dns.AddA("example.com", Client);
        _dns.AddAaaa("example.com", "2001:db8::cb01");
        _dns.AddA("hosts.example.com", "198.51.100.1");
        _dns.AddA("hosts.example.com", Client);
        _dns.AddA("other.example.com", "192.0.2.1");
        Assert.Equal(expected, (await Check(record, ip)).Result);
    }

    // ---- mx

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 mx -all", Client, SpfResult.Pass)]
    [InlineData("v=spf1 mx -all", "192.0.2.9", SpfResult.Fail)]
    [InlineData("v=spf1 mx/28 -all", "192.0.2.9", SpfResult.Pass)]
    [InlineData("v=spf1 mx:other.example.com -all", Client, SpfResult.Fail)]
    [InlineData("v=spf1 mx:other.example.com -all", "198.51.100.7", SpfResult.Pass)]
    [InlineData("v=spf1 mx -all", "2001:db8::25", SpfResult.Pass)]
    [InlineData("v=spf1 mx -all", "2001:db8::26", SpfResult.Fail)]
    [InlineData("v=spf1 mx//120 -all", "2001:db8::26", SpfResult.Pass)]
    public async Task Mx_matches_the_addresses_of_the_mail_exchangers(string record, string ip, SpfResult expected)
    {
        _dns.AddMx("example.com", 20, "mx2.example.com");
        _dns.AddMx("example.com", 10, "mx1.example.com");
        _dns.AddA("mx1.example.com", "192.0.2.1");
        _dns.AddA("mx2.example.com", Client);
        _dns.AddAaaa("mx2.example.com", "2001:db8::25");
        _dns.AddMx("other.example.com", 10, "mx.other.example.com");
        _dns.AddA("mx.other.example.com", "198.51.100.7");
        Assert.Equal(expected, (await Check(record, ip)).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Mx_with_more_than_ten_exchanges_is_a_permerror()
    {
        for (var i = 0; i < 11; i++)
        {
            _dns.AddMx("example.com", i, $"mx{i}.example.com");
            _dns.AddA($"mx{i}.example.com", "198.51.100." + (i + 1));
        }
        var check = await Check("v=spf1 mx -all");
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.Contains("MX", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Mx_with_ten_exchanges_is_evaluated()
    {
        for (var i = 0; i < 10; i++)
        {
            _dns.AddMx("example.com", i, $"mx{i}.example.com");
            _dns.AddA($"mx{i}.example.com", i == 9 ? Client : "198.51.100." + (i + 1));
        }
        Assert.Equal(SpfResult.Pass, (await Check("v=spf1 mx -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Null_mx_matches_nothing()
    {
        _dns.AddMx("example.com", 0, ".");
        Assert.Equal(SpfResult.Fail, (await Check("v=spf1 mx -all")).Result);
    }

    // ---- ptr

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 ptr -all", SpfResult.Pass)]
    [InlineData("v=spf1 ptr:example.com -all", SpfResult.Pass)]
    [InlineData("v=spf1 ptr:mail.example.com -all", SpfResult.Pass)]
    [InlineData("v=spf1 ptr:ample.com -all", SpfResult.Fail)]
    [InlineData("v=spf1 ptr:example.org -all", SpfResult.Fail)]
    public async Task Ptr_matches_a_validated_name_in_the_domain(string record, SpfResult expected)
    {
        _dns.AddPtr(Client, "mail.example.com");
        _dns.AddA("mail.example.com", Client);
        Assert.Equal(expected, (await Check(record)).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Ptr_does_not_match_a_name_whose_addresses_differ()
    {
        _dns.AddPtr(Client, "forged.example.com");
        _dns.AddA("forged.example.com", "198.51.100.1");
        Assert.Equal(SpfResult.Fail, (await Check("v=spf1 ptr -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Ptr_lookup_failure_is_no_match_not_an_error()
    {
        _dns.SetServFail("3.2.0.192.in-addr.arpa");
        Assert.Equal(SpfResult.Fail, (await Check("v=spf1 ptr -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Ptr_matches_ipv6_clients()
    {
        _dns.AddPtr("2001:db8::cb01", "v6.example.com");
        _dns.AddAaaa("v6.example.com", "2001:db8::cb01");
        Assert.Equal(SpfResult.Pass, (await Check("v=spf1 ptr -all", "2001:db8::cb01")).Result);
    }

    // ---- exists

    [Theory(Timeout = Timeout)]
    [InlineData(Client, SpfResult.Pass)]
    [InlineData("192.0.2.4", SpfResult.Fail)]
    [InlineData("2001:db8::cb01", SpfResult.Pass)]
    public async Task Exists_matches_when_the_expanded_name_has_an_A_record(string ip, SpfResult expected)
    {
        _dns.AddA("3.2.0.192.in-addr._spf.example.com", "127.0.0.2");
        _dns.AddA("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", "127.0.0.2");
        _dns.AddA("4.2.0.192.in-addr._spf.example.com.other", "127.0.0.2");
        Assert.Equal(expected, (await Check("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all", ip)).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Exists_uses_the_sender_local_part()
    {
        _dns.AddA("bad.strong.lp._spf.example.com", "127.0.0.2");
        var check = await Check("v=spf1 exists:%{lr-}.lp._spf.%{d2} -all", sender: "strong-bad@example.com");
        Assert.Equal((SpfResult.Pass, "exists:%{lr-}.lp._spf.%{d2}"), (check.Result, check.Detail));
    }

    [Fact(Timeout = Timeout)]
    public async Task The_p_macro_uses_the_validated_PTR_name()
    {
        _dns.AddPtr(Client, "mx.example.org");
        _dns.AddA("mx.example.org", Client);
        _dns.AddA("mx.example.org.ok.example.com", "127.0.0.2");
        Assert.Equal(SpfResult.Pass, (await Check("v=spf1 exists:%{p}.ok.example.com -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_p_macro_is_unknown_without_a_validated_name()
    {
        _dns.AddPtr(Client, "mx.example.org");
        _dns.AddA("mx.example.org", "198.51.100.1");
        _dns.AddA("unknown.ok.example.com", "127.0.0.2");
        Assert.Equal(SpfResult.Pass, (await Check("v=spf1 exists:%{p}.ok.example.com -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_target_that_expands_to_an_invalid_name_is_a_permerror()
    {
        var check = await Check("v=spf1 exists:%{l}.example.com -all", sender: "a..b@example.com");
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.Contains("not a domain name", check.Detail);
    }

    // ---- include (RFC 7208 5.2)

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 +all", SpfResult.Pass)]
    [InlineData("v=spf1 -all", SpfResult.Fail)]
    [InlineData("v=spf1 ~all", SpfResult.Fail)]
    [InlineData("v=spf1 ?all", SpfResult.Fail)]
    [InlineData("v=spf1", SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.3", SpfResult.Pass)]
    [InlineData("v=spf1 a:servfail.example.net", SpfResult.TempError)]
    [InlineData("v=spf1 bogus", SpfResult.PermError)]
    [InlineData("not spf", SpfResult.PermError)]
    [InlineData(null, SpfResult.PermError)]
    public async Task Include_results_follow_the_RFC_7208_table(string? included, SpfResult expected)
    {
        if (included is not null) _dns.AddTxt("included.example.net", included);
        else _dns.SetNxDomain("included.example.net");
        _dns.SetServFail("servfail.example.net");
        var check = await Check("v=spf1 include:included.example.net -all");
        Assert.Equal(expected, check.Result);
        if (expected == SpfResult.Pass) Assert.Equal("include:included.example.net", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Include_with_a_temporary_failure_of_its_record_is_a_temperror()
    {
        _dns.SetServFail("included.example.net");
        Assert.Equal(SpfResult.TempError, (await Check("v=spf1 include:included.example.net -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Include_evaluates_with_the_included_domain_as_d()
    {
        _dns.AddTxt("included.example.net", "v=spf1 a -all");
        _dns.AddA("included.example.net", Client);
        Assert.Equal(SpfResult.Pass, (await Check("v=spf1 include:included.example.net -all")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_looping_include_ends_in_permerror_at_the_lookup_limit()
    {
        _dns.AddTxt("loop-a.example.net", "v=spf1 include:loop-b.example.net -all");
        _dns.AddTxt("loop-b.example.net", "v=spf1 include:loop-a.example.net -all");
        var check = await Check("v=spf1 include:loop-a.example.net -all");
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.Contains("DNS-querying terms", check.Detail);
        Assert.True(_dns.Queries.Count(q => q.Type == "TYPE16") <= SpfEvaluator.MaxDnsLookups + 1);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_self_include_ends_in_permerror()
    {
        Assert.Equal(SpfResult.PermError, (await Check("v=spf1 include:example.com -all")).Result);
    }

    // ---- redirect

    [Fact(Timeout = Timeout)]
    public async Task Redirect_evaluates_the_other_record()
    {
        _dns.AddTxt("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all");
        var check = await Check("v=spf1 ip4:198.51.100.1 redirect=_spf.example.net");
        Assert.Equal((SpfResult.Pass, "ip4:192.0.2.0/24"), (check.Result, check.Detail));
        Assert.Equal(SpfResult.Fail, (await CheckPublished("198.51.100.2")).Result);
        Assert.Equal(SpfResult.Pass, (await CheckPublished("198.51.100.1")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Redirect_with_a_macro_uses_the_current_domain()
    {
        _dns.AddTxt("_spf.example.com", "v=spf1 -all");
        Assert.Equal(SpfResult.Fail, (await Check("v=spf1 redirect=_spf.%{d}")).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Redirect_is_ignored_when_the_record_has_all()
    {
        _dns.AddTxt("_spf.example.net", "v=spf1 +all");
        Assert.Equal(SpfResult.SoftFail, (await Check("v=spf1 redirect=_spf.example.net ~all")).Result);
    }

    [Theory(Timeout = Timeout)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Redirect_to_a_domain_without_a_record_is_a_permerror(bool exists)
    {
        if (exists) _dns.AddTxt("_spf.example.net", "some other text");
        var check = await Check("v=spf1 redirect=_spf.example.net");
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.StartsWith("redirect=_spf.example.net", check.Detail);
    }

    // ---- exp

    [Fact(Timeout = Timeout)]
    public async Task Exp_gives_the_explanation_of_a_fail_with_macros_expanded()
    {
        _dns.AddTxt("explain.example.com", "%{i} is not one of %{d}'s designated mail servers (checked by %{r}).");
        var check = await Check("v=spf1 mx -all exp=explain.%{d}");
        Assert.Equal(SpfResult.Fail, check.Result);
        Assert.Equal("192.0.2.3 is not one of example.com's designated mail servers (checked by receiver.example.net).", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Exp_uses_the_clock_for_t()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        _dns.AddTxt("example.com", "v=spf1 -all exp=explain.example.com");
        _dns.AddTxt("explain.example.com", "at %{t} from %{c} via %{h}");
        var check = await CheckPublished("2001:db8::cb01", evaluator: Evaluator(time: time));
        Assert.Equal("at 1700000000 from 2001:db8::cb01 via mail.example.com", check.Detail);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("nxdomain")]
    [InlineData("servfail")]
    [InlineData("two records")]
    [InlineData("bad macro")]
    [InlineData("empty")]
    public async Task Exp_failures_leave_the_fail_without_explanation(string what)
    {
        switch (what)
        {
            case "nxdomain": break;
            case "servfail": _dns.SetServFail("explain.example.com"); break;
            case "two records": _dns.AddTxt("explain.example.com", "one"); _dns.AddTxt("explain.example.com", "two"); break;
            case "bad macro": _dns.AddTxt("explain.example.com", "broken %{x}"); break;
            default: _dns.AddA("explain.example.com", "192.0.2.1"); break;
        }
        var check = await Check("v=spf1 -all exp=explain.example.com");
        Assert.Equal((SpfResult.Fail, "-all"), (check.Result, check.Detail));
    }

    [Fact(Timeout = Timeout)]
    public async Task Exp_is_not_used_for_other_results()
    {
        _dns.AddTxt("explain.example.com", "go away");
        var check = await Check("v=spf1 ~all exp=explain.example.com");
        Assert.Equal((SpfResult.SoftFail, "~all"), (check.Result, check.Detail));
    }

    [Fact(Timeout = Timeout)]
    public async Task Exp_of_an_included_record_is_not_used_but_of_a_redirected_one_is()
    {
        _dns.AddTxt("inc.example.net", "v=spf1 -all exp=inner.example.net");
        _dns.AddTxt("inner.example.net", "inner says no for %{d}");
        _dns.AddTxt("outer.example.com", "outer says no for %{d}");
        var included = await Check("v=spf1 include:inc.example.net -all exp=outer.example.com");
        Assert.Equal("outer says no for example.com", included.Detail);

        _dns.AddTxt("redirected.example.com", "v=spf1 redirect=inc.example.net exp=outer.example.com");
        var redirected = await CheckPublished(domain: "redirected.example.com");
        Assert.Equal((SpfResult.Fail, "inner says no for inc.example.net"), (redirected.Result, redirected.Detail));
    }

    // ---- limits

    private static string Terms(string kind, int count) => string.Join(' ', Enumerable.Range(1, count).Select(i => $"{kind}:h{i}.example.net"));

    [Theory(Timeout = Timeout)]
    [InlineData(10, SpfResult.Fail)]
    [InlineData(11, SpfResult.PermError)]
    public async Task At_most_ten_DNS_querying_terms(int terms, SpfResult expected)
    {
        for (var i = 1; i <= 11; i++) _dns.AddA($"h{i}.example.net", "198.51.100.1");
        var check = await Check($"v=spf1 {Terms("a", terms)} -all");
        Assert.Equal(expected, check.Result);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 a:h.example.net -all", SpfResult.Fail)]
    [InlineData("v=spf1 a:h.example.net exists:x.h.example.net -all", SpfResult.PermError)]
    public async Task The_ten_lookup_limit_counts_every_kind_of_term_through_include_and_redirect(string redirected, SpfResult expected)
    {
        _dns.AddA("h.example.net", "198.51.100.1");
        _dns.AddMx("h.example.net", 10, "h.example.net");
        _dns.AddA("x.h.example.net", "127.0.0.1");
        _dns.AddPtr(Client, "h.example.net");
        _dns.AddTxt("inc.example.net", "v=spf1 a:h.example.net mx:h.example.net ?all");
        _dns.AddTxt("red.example.net", redirected);
        // include 1 (its a 2, mx 3), a 4, mx 5, ptr 6, a 7, a 8, redirect 9, then the redirected a 10 (and exists 11,
        // which would match).
        var check = await Check("v=spf1 include:inc.example.net a:h.example.net mx:h.example.net ptr:nothing.example.org "
            + "a:h.example.net a:h.example.net redirect=red.example.net");
        Assert.Equal(expected, check.Result);
    }

    [Theory(Timeout = Timeout)]
    [InlineData(9, SpfResult.Fail)]
    [InlineData(10, SpfResult.PermError)]
    public async Task Nested_includes_count_toward_the_ten_lookups(int depth, SpfResult expected)
    {
        // example.com -> n1 -> n2 ... -> n{depth}: depth includes, the last has "a:h.example.net" (one more lookup).
        _dns.AddA("h.example.net", "198.51.100.1");
        for (var i = 1; i <= depth; i++)
            _dns.AddTxt($"n{i}.example.net", i < depth ? $"v=spf1 include:n{i + 1}.example.net ?all" : "v=spf1 a:h.example.net ?all");
        var check = await Check("v=spf1 include:n1.example.net -all");
        Assert.Equal(expected, check.Result);
    }

    [Theory(Timeout = Timeout)]
    [InlineData(2, SpfResult.Fail)]
    [InlineData(3, SpfResult.PermError)]
    public async Task At_most_two_void_lookups(int voids, SpfResult expected)
    {
        // NXDOMAIN (unknown names) and NODATA (a name with only a TXT record) are both void.
        _dns.AddTxt("h2.example.net", "not an address");
        var check = await Check($"v=spf1 {Terms("a", voids)} -all");
        Assert.Equal(expected, check.Result);
        if (expected == SpfResult.PermError) Assert.Contains("void", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Void_lookups_count_across_mechanism_kinds_and_includes()
    {
        _dns.AddTxt("inc.example.net", "v=spf1 exists:nothing.example.net ?all");
        var check = await Check("v=spf1 mx:none.example.net include:inc.example.net ptr -all");
        Assert.Equal(SpfResult.PermError, check.Result);
    }

    // ---- errors

    [Fact(Timeout = Timeout)]
    public async Task Servfail_on_the_record_is_a_temperror()
    {
        _dns.SetServFail("example.com");
        var check = await CheckPublished();
        Assert.Equal(SpfResult.TempError, check.Result);
        Assert.Contains("SERVFAIL", check.Detail);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 a:broken.example.net -all")]
    [InlineData("v=spf1 mx:broken.example.net -all")]
    [InlineData("v=spf1 exists:broken.example.net -all")]
    [InlineData("v=spf1 mx:mxbroken.example.net -all")]
    public async Task Servfail_in_a_mechanism_is_a_temperror(string record)
    {
        _dns.SetServFail("broken.example.net");
        _dns.AddMx("mxbroken.example.net", 10, "broken.example.net");
        Assert.Equal(SpfResult.TempError, (await Check(record)).Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_query_timeout_is_a_temperror()
    {
        _dns.SetNoResponse("example.com");
        var check = await CheckPublished(evaluator: Evaluator(queryTimeout: TimeSpan.FromMilliseconds(300)));
        Assert.Equal(SpfResult.TempError, check.Result);
        Assert.Contains("timeout", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_time_budget_ends_a_slow_check_in_temperror()
    {
        _dns.SetNoResponse("example.com");
        var check = await CheckPublished(evaluator: Evaluator(queryTimeout: TimeSpan.FromSeconds(20), budget: TimeSpan.FromMilliseconds(300)));
        Assert.Equal(SpfResult.TempError, check.Result);
        Assert.Contains("took longer", check.Detail);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void The_time_budget_must_be_positive(int ms) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Evaluator(budget: TimeSpan.FromMilliseconds(ms)));

    [Fact(Timeout = Timeout)]
    public async Task The_callers_cancellation_throws()
    {
        _dns.SetNoResponse("example.com");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Evaluator(queryTimeout: TimeSpan.FromSeconds(20)).CheckHostAsync(IPAddress.Parse(Client), "example.com", "a@example.com", "h.example.com", cts.Token));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_record_too_big_for_UDP_is_a_temperror_not_an_exception()
    {
        // The stub truncates (TC) and has no TCP, so the resolver reports a temporary failure.
        var big = "v=spf1 " + string.Join(' ', Enumerable.Range(0, 400).Select(i => $"ip4:10.{i / 256}.{i % 256}.1")) + " -all";
        Assert.True(big.Length > 4096);
        var check = await Check(big);
        Assert.Equal(SpfResult.TempError, check.Result);
        Assert.StartsWith("DNS failure for the SPF record of example.com", check.Detail);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("v=spf1 -all foo")]
    [InlineData("v=spf1 ip4:192.0.2.300 -all")]
    [InlineData("v=spf1 redirect=a.example.net redirect=b.example.net")]
    [InlineData("v=spf1 exists:%{t}.example.com -all")]
    [InlineData("v=spf1 +all a:example.com/33")]
    public async Task Syntax_errors_are_permerrors(string record)
    {
        var check = await Check(record);
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.StartsWith("example.com: ", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task More_than_one_record_is_a_permerror()
    {
        _dns.AddTxt("example.com", "v=spf1 +all");
        var check = await Check("v=spf1 -all");
        Assert.Equal(SpfResult.PermError, check.Result);
        Assert.Contains("more than one", check.Detail);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("nxdomain")]
    [InlineData("no txt")]
    [InlineData("other txt")]
    [InlineData("spf2")]
    public async Task No_record_is_none(string what)
    {
        switch (what)
        {
            case "no txt": _dns.AddA("example.com", Client); break;
            case "other txt": _dns.AddTxt("example.com", "v=DMARC1; p=none"); break;
            case "spf2": _dns.AddTxt("example.com", "spf2.0/pra -all"); break;
        }
        Assert.Equal(SpfResult.None, (await CheckPublished()).Result);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("a..example.com")]
    [InlineData("-.")]
    public async Task A_domain_that_is_not_a_domain_is_none(string domain)
    {
        var check = await Evaluator().CheckHostAsync(IPAddress.Parse(Client), domain, "a@" + domain, "h", TestContext.Current.CancellationToken);
        Assert.Equal(SpfResult.None, check.Result);
        Assert.Empty(_dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_domain_with_a_trailing_dot_is_checked_without_it()
    {
        _dns.AddTxt("example.com", "v=spf1 ip4:192.0.2.3 -all");
        var check = await CheckPublished(domain: "example.com.");
        Assert.Equal((SpfResult.Pass, "example.com"), (check.Result, check.Domain));
    }

    // ---- cases after the RFC 7208 test suite

    [Fact(Timeout = Timeout)]
    public async Task Upper_case_macros_are_url_escaped_in_an_explanation()
    {
        _dns.AddTxt("msg8.example.com", "http://example.com/why.html?l=%{L}");
        var check = await Check("v=spf1 -all exp=msg8.%{D2}", sender: "jack&jill=up@example.com");
        Assert.Equal("http://example.com/why.html?l=jack%26jill%3Dup", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_explanation_keeps_its_trailing_dot_and_an_exp_domain_loses_its_own()
    {
        _dns.AddTxt("msg.example.com", "This is a test.");
        Assert.Equal("This is a test.", (await Check("v=spf1 exp=msg.example.com. -all")).Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_invalid_helo_in_a_macro_is_a_lookup_that_finds_nothing_not_a_permerror()
    {
        _dns.AddTxt("example.com", "v=spf1 a:%{H} -all");
        var check = await Evaluator().CheckHostAsync(IPAddress.Parse(Client), "example.com", "a@example.com", "JUMPIN' JUPITER", TestContext.Current.CancellationToken);
        Assert.Equal(SpfResult.Fail, check.Result);
        Assert.Contains(("jumpin%27%20jupiter", "A"), _dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task Macro_literals_in_a_domain_are_valid_syntax()
    {
        // "macro%percent  space%20url-space.example.com" cannot be asked for; the mechanism just does not match.
        var check = await Check("v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all");
        Assert.Equal((SpfResult.Fail, "-all"), (check.Result, check.Detail));
    }

    [Fact(Timeout = Timeout)]
    public async Task An_empty_label_from_a_macro_is_a_permerror()
    {
        var check = await Check("v=spf1 a:mail.example...com -all");
        Assert.Equal(SpfResult.PermError, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_expanded_exp_domain_is_truncated_to_253_characters()
    {
        const string o = "somewhat.long.exp.example.com";
        var full = string.Join('.', Enumerable.Repeat(o, 8)) + ".example.com"; // foobar. is cut off, and more
        var truncated = SpfMacroExpander.TruncateDomain("foobar." + full);
        Assert.True(truncated.Length <= 253);
        _dns.AddTxt(truncated, "Congratulations!  That was tricky.");
        _dns.AddTxt(o, "v=spf1 -all exp=foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com");
        var check = await CheckPublished(domain: o, sender: "test@" + o);
        Assert.Equal("Congratulations!  That was tricky.", check.Detail);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("example.com..")]
    [InlineData("a...example.com")]
    [InlineData("a123456789012345678901234567890123456789012345678901234567890123.example.com")]
    public async Task A_malformed_initial_domain_is_none(string domain)
    {
        var check = await Evaluator().CheckHostAsync(IPAddress.Parse(Client), domain, "a@" + domain, "h.example.com", TestContext.Current.CancellationToken);
        Assert.Equal(SpfResult.None, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_redirect_loop_ends_in_permerror()
    {
        Assert.Equal(SpfResult.PermError, (await Check("v=spf1 ip4:198.51.100.1 redirect=example.com")).Result);
    }

    // ---- identities

    [Fact(Timeout = Timeout)]
    public async Task Helo_identity_checks_the_helo_name_as_postmaster()
    {
        _dns.AddTxt("mail.example.com", "v=spf1 exists:%{l}.%{d} -all");
        _dns.AddA("postmaster.mail.example.com", "127.0.0.2");
        var check = await Evaluator().CheckHeloAsync(IPAddress.Parse(Client), "mail.example.com", TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.Pass, "mail.example.com", "mail.example.com"), (check.Result, check.Identity, check.Domain));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("[192.0.2.3]")]
    [InlineData("[IPv6:2001:db8::1]")]
    [InlineData("192.0.2.3")]
    public async Task An_address_literal_helo_is_none(string helo)
    {
        var check = await Evaluator().CheckHeloAsync(IPAddress.Parse(Client), helo, TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.None, helo), (check.Result, check.Identity));
        Assert.Empty(_dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task Mail_from_checks_the_sender_domain()
    {
        _dns.AddTxt("example.com", "v=spf1 exists:%{l}.%{o}.s.example.net -all");
        _dns.AddA("jane.example.com.s.example.net", "127.0.0.2");
        var check = await Evaluator().CheckMailFromAsync(IPAddress.Parse(Client), new SmtpAddress("jane", "example.com"), "helo.example.org", TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.Pass, "jane@example.com", "example.com"), (check.Result, check.Identity, check.Domain));
    }

    [Fact(Timeout = Timeout)]
    public async Task Null_sender_checks_postmaster_at_the_helo_name()
    {
        _dns.AddTxt("helo.example.org", "v=spf1 exists:%{l}.%{o}.s.example.net -all");
        _dns.AddA("postmaster.helo.example.org.s.example.net", "127.0.0.2");
        var check = await Evaluator().CheckMailFromAsync(IPAddress.Parse(Client), SmtpAddress.Null, "helo.example.org", TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.Pass, "postmaster@helo.example.org", "helo.example.org"), (check.Result, check.Identity, check.Domain));
    }

    [Theory(Timeout = Timeout)]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("[192.0.2.3]")]
    [InlineData("localhost")]
    public async Task Null_sender_without_a_usable_helo_is_none(string? helo)
    {
        var check = await Evaluator().CheckMailFromAsync(IPAddress.Parse(Client), SmtpAddress.Null, helo, TestContext.Current.CancellationToken);
        Assert.Equal(SpfResult.None, check.Result);
        Assert.Empty(_dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_sender_without_local_part_is_postmaster()
    {
        _dns.AddTxt("example.com", "v=spf1 exists:%{l}.s.example.net -all");
        _dns.AddA("postmaster.s.example.net", "127.0.0.2");
        var check = await Evaluator().CheckMailFromAsync(IPAddress.Parse(Client), new SmtpAddress("", "example.com"), "h.example.org", TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.Pass, "postmaster@example.com"), (check.Result, check.Identity));
    }

    [Fact(Timeout = Timeout)]
    public async Task An_internationalised_sender_domain_is_looked_up_as_A_labels()
    {
        // An in-memory resolver: DnsResolver itself drops answers for xn-- names (DnsClient hands back their owner names
        // decoded to Unicode), which is the resolver's to fix, not SPF's.
        var dns = new TxtOnlyResolver(new() { ["xn--bcher-kva.example"] = "v=spf1 ip4:192.0.2.3 -all" });
        var evaluator = new SpfEvaluator(dns, "receiver.example.net", TimeProvider.System, NullLogger<SpfEvaluator>.Instance);
        var check = await evaluator.CheckMailFromAsync(IPAddress.Parse(Client), new SmtpAddress("jörg", "bücher.example"), "h.example.org", TestContext.Current.CancellationToken);
        Assert.Equal((SpfResult.Pass, "jörg@bücher.example", "xn--bcher-kva.example"), (check.Result, check.Identity, check.Domain));
        Assert.Equal(["xn--bcher-kva.example"], dns.Asked);
    }

    private sealed class TxtOnlyResolver(Dictionary<string, string> records) : IDnsResolver
    {
        public List<string> Asked { get; } = [];

        public ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken)
        {
            Asked.Add(name);
            return ValueTask.FromResult(records.TryGetValue(name, out var txt) ? DnsAnswer<string>.Found([txt]) : DnsAnswer<string>.NotFound("NXDOMAIN"));
        }

        public ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, System.Net.Sockets.AddressFamily family, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<IPAddress>.NotFound("NXDOMAIN"));

        public ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<MxHost>.NotFound("NXDOMAIN"));

        public ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<string>.NotFound("NXDOMAIN"));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_sender_at_an_address_literal_is_none()
    {
        var check = await Evaluator().CheckMailFromAsync(IPAddress.Parse(Client), new SmtpAddress("a", "[192.0.2.1]"), "h.example.org", TestContext.Current.CancellationToken);
        Assert.Equal(SpfResult.None, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_resolver_cache_is_shared_between_checks()
    {
        _dns.AddTxt("example.com", "v=spf1 a -all");
        _dns.AddA("example.com", Client);
        var evaluator = Evaluator();
        Assert.Equal(SpfResult.Pass, (await CheckPublished(evaluator: evaluator)).Result);
        var queries = _dns.QueryCount;
        Assert.Equal(SpfResult.Pass, (await CheckPublished(evaluator: evaluator)).Result);
        Assert.Equal(queries, _dns.QueryCount);
    }
}
