// MX ordering, null MX, NXDOMAIN, implicit MX, SERVFAIL and timeouts, against a stub DNS server on 127.0.0.1.
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Routing;
using Mta.Testing;

namespace Mta.Engine.Tests.Outbound.Routing;

public sealed class DnsTargetResolverTests : IAsyncLifetime
{
    private const int Timeout = 15_000;
    private StubDnsServer _dns = null!;

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    // A short query timeout keeps the unanswered-query tests fast; no retries unless a test wants them.
    private DnsTargetResolver Resolver(Random? random = null, TimeSpan? timeout = null, int retries = 0) =>
        new(new DnsResolver(new DnsOptions { Servers = [$"127.0.0.1:{_dns.EndPoint.Port}"], Timeout = timeout ?? TimeSpan.FromSeconds(2), Retries = retries, CacheSize = 0 },
            TimeProvider.System, NullLogger<DnsResolver>.Instance), NullLogger<DnsTargetResolver>.Instance, random);

    private static NextHop Mx(string domain, int port = 25) => new(domain, domain, true, port, OutboundTlsPolicy.May, null, null);

    private static NextHop Direct(string host, int port = 25) => new($"[{host}]:{port}", host, false, port, OutboundTlsPolicy.May, null, null);

    private static string Order(TargetResolution r) => string.Join(" ", r.Targets.Select(t => t.HostName));

    [Fact(Timeout = Timeout)]
    public async Task MX_hosts_come_in_ascending_preference_with_the_hop_port()
    {
        _dns.AddMx("example.test", 20, "mx2.example.test");
        _dns.AddMx("example.test", 10, "mx1.example.test.");
        _dns.AddMx("example.test", 30, "mx3.example.test");
        _dns.AddA("mx1.example.test", "192.0.2.1");
        _dns.AddA("mx2.example.test", "192.0.2.2");
        _dns.AddA("mx3.example.test", "192.0.2.3");

        var result = await Resolver().ResolveAsync(Mx("example.test", 2525), TestContext.Current.CancellationToken);

        SmtpTarget[] expected =
        [
            new("mx1.example.test", IPAddress.Parse("192.0.2.1"), 2525),
            new("mx2.example.test", IPAddress.Parse("192.0.2.2"), 2525),
            new("mx3.example.test", IPAddress.Parse("192.0.2.3"), 2525),
        ];
        Assert.Equal(TargetResolutionStatus.Found, result.Status);
        Assert.Equal(expected, result.Targets);
    }

    [Fact(Timeout = Timeout)]
    public async Task Equal_preferences_are_shuffled_reproducibly_with_a_seeded_Random()
    {
        foreach (var name in new[] { "a", "b", "c" })
        {
            _dns.AddMx("shuffle.test", 10, $"{name}.shuffle.test");
            _dns.AddA($"{name}.shuffle.test", $"192.0.2.{name[0] - 'a' + 1}");
        }
        _dns.AddMx("shuffle.test", 20, "backup.shuffle.test");
        _dns.AddA("backup.shuffle.test", "192.0.2.99");
        var ct = TestContext.Current.CancellationToken;

        var first = Resolver(new Random(42));
        var second = Resolver(new Random(42));
        var orders = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            var result = await first.ResolveAsync(Mx("shuffle.test"), ct);
            var again = await second.ResolveAsync(Mx("shuffle.test"), ct);
            Assert.Equal(Order(result), Order(again));
            Assert.Equal(4, result.Targets.Count);
            Assert.Equal("backup.shuffle.test", result.Targets[^1].HostName);
            orders.Add(Order(result));
        }
        Assert.True(orders.Distinct().Count() >= 2, $"only saw: {string.Join(" | ", orders.Distinct())}");
    }

    [Fact(Timeout = Timeout)]
    public async Task A_lone_dot_exchange_is_a_null_MX()
    {
        _dns.AddMx("nomail.test", 0, ".");
        _dns.AddA("nomail.test", "192.0.2.5");

        var result = await Resolver().ResolveAsync(Mx("nomail.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NullMx, result.Status);
        Assert.Empty(result.Targets);
        Assert.Equal("Domain nomail.test does not accept mail (null MX)", result.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_nonexistent_domain_is_not_found_in_Postfix_words()
    {
        var result = await Resolver().ResolveAsync(Mx("nowhere.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NotFound, result.Status);
        Assert.Equal("Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found", result.Detail);
        Assert.Equal([("nowhere.test", "MX")], _dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task NXDOMAIN_wins_over_records_the_name_would_have()
    {
        _dns.AddMx("gone.test", 10, "mx.gone.test");
        _dns.SetNxDomain("gone.test");

        var result = await Resolver().ResolveAsync(Mx("gone.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NotFound, result.Status);
    }

    [Fact(Timeout = Timeout)]
    public async Task Without_MX_records_the_domain_own_addresses_are_used()
    {
        _dns.AddA("plain.test", "192.0.2.10");
        _dns.AddAaaa("plain.test", "2001:db8::10");

        var result = await Resolver().ResolveAsync(Mx("plain.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.Found, result.Status);
        Assert.Equal(["192.0.2.10", "2001:db8::10"], result.Targets.Select(t => t.Address.ToString()));
        Assert.All(result.Targets, t => Assert.Equal("plain.test", t.HostName));
        Assert.Equal(("plain.test", "MX"), _dns.Queries[0]);
        Assert.Contains(("plain.test", "A"), _dns.Queries);
        Assert.Contains(("plain.test", "AAAA"), _dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task SERVFAIL_on_the_MX_query_is_a_temporary_failure()
    {
        _dns.AddMx("broken.test", 10, "mx.broken.test");
        _dns.SetServFail("broken.test");

        var result = await Resolver(retries: 1).ResolveAsync(Mx("broken.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.TemporaryFailure, result.Status);
        Assert.Contains("name=broken.test type=MX", result.Detail);
        Assert.Contains("SERVFAIL", result.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_unanswered_MX_query_times_out_as_a_temporary_failure()
    {
        _dns.SetNoResponse("silent.test");
        var clock = Stopwatch.StartNew();

        var result = await Resolver(timeout: TimeSpan.FromMilliseconds(300), retries: 1).ResolveAsync(Mx("silent.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.TemporaryFailure, result.Status);
        Assert.Contains("timeout", result.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(_dns.QueryCount >= 2, "the retry was sent");
    }

    [Fact(Timeout = Timeout)]
    public async Task Cancellation_throws_instead_of_reporting_a_timeout()
    {
        _dns.SetNoResponse("slow.test");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Resolver(timeout: TimeSpan.FromSeconds(10)).ResolveAsync(Mx("slow.test"), cts.Token));
    }

    [Fact(Timeout = Timeout)]
    public async Task An_MX_host_without_addresses_is_skipped()
    {
        _dns.AddMx("partial.test", 10, "dead.partial.test");
        _dns.AddMx("partial.test", 20, "live.partial.test");
        _dns.AddA("live.partial.test", "192.0.2.20");

        var result = await Resolver().ResolveAsync(Mx("partial.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.Found, result.Status);
        var target = Assert.Single(result.Targets);
        Assert.Equal("live.partial.test", target.HostName);
    }

    [Fact(Timeout = Timeout)]
    public async Task MX_hosts_that_do_not_resolve_at_all_mean_not_found()
    {
        _dns.AddMx("hollow.test", 10, "a.hollow.test");
        _dns.AddMx("hollow.test", 20, "b.hollow.test");

        var result = await Resolver().ResolveAsync(Mx("hollow.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NotFound, result.Status);
        Assert.Contains("a.hollow.test", result.Detail);
        Assert.Contains("b.hollow.test", result.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_MX_host_failing_temporarily_makes_an_unresolvable_set_temporary()
    {
        _dns.AddMx("flaky.test", 10, "a.flaky.test");
        _dns.AddMx("flaky.test", 20, "b.flaky.test");
        _dns.SetServFail("b.flaky.test");

        var result = await Resolver().ResolveAsync(Mx("flaky.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.TemporaryFailure, result.Status);
        Assert.Contains("SERVFAIL", result.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task AAAA_addresses_are_included_after_the_A_addresses_of_each_host()
    {
        _dns.AddMx("dual.test", 10, "mx1.dual.test");
        _dns.AddMx("dual.test", 20, "mx2.dual.test");
        _dns.AddAaaa("mx1.dual.test", "2001:db8::1");
        _dns.AddA("mx1.dual.test", "192.0.2.1");
        _dns.AddAaaa("mx2.dual.test", "2001:db8::2");

        var result = await Resolver().ResolveAsync(Mx("dual.test"), TestContext.Current.CancellationToken);

        Assert.Equal(["mx1.dual.test[192.0.2.1]:25", "mx1.dual.test[2001:db8::1]:25", "mx2.dual.test[2001:db8::2]:25"],
            result.Targets.Select(t => t.ToString()));
    }

    [Fact(Timeout = Timeout)]
    public async Task Addresses_in_the_additional_section_save_the_address_queries()
    {
        _dns.IncludeAdditional = true;
        _dns.AddMx("glue.test", 10, "mx.glue.test");
        _dns.AddA("mx.glue.test", "192.0.2.30");

        var result = await Resolver().ResolveAsync(Mx("glue.test"), TestContext.Current.CancellationToken);

        Assert.Equal("192.0.2.30", Assert.Single(result.Targets).Address.ToString());
        Assert.Equal([("glue.test", "MX")], _dns.Queries);
    }

    [Fact(Timeout = Timeout)]
    public async Task At_most_ten_targets_are_returned()
    {
        for (var i = 1; i <= 12; i++)
        {
            _dns.AddMx("big.test", i, $"mx{i}.big.test");
            _dns.AddA($"mx{i}.big.test", $"192.0.2.{i}");
        }

        var result = await Resolver().ResolveAsync(Mx("big.test"), TestContext.Current.CancellationToken);

        Assert.Equal(DnsTargetResolver.MaxTargets, result.Targets.Count);
        Assert.Equal("mx1.big.test", result.Targets[0].HostName);
        Assert.Equal("mx10.big.test", result.Targets[^1].HostName);
    }

    [Fact(Timeout = Timeout)]
    public async Task Two_MX_names_for_one_address_give_one_target()
    {
        _dns.AddMx("same.test", 10, "a.same.test");
        _dns.AddMx("same.test", 20, "b.same.test");
        _dns.AddA("a.same.test", "192.0.2.40");
        _dns.AddA("b.same.test", "192.0.2.40");

        var result = await Resolver().ResolveAsync(Mx("same.test"), TestContext.Current.CancellationToken);

        Assert.Equal("a.same.test", Assert.Single(result.Targets).HostName);
    }

    [Fact(Timeout = Timeout)]
    public async Task CNAME_chains_are_followed_and_the_exchange_name_is_kept()
    {
        _dns.AddMx("alias.test", 10, "mx.alias.test");
        _dns.AddCname("mx.alias.test", "real.hosting.test");
        _dns.AddA("real.hosting.test", "192.0.2.50");
        _dns.AddCname("www.alias.test", "mx.alias.test");

        var result = await Resolver().ResolveAsync(Mx("alias.test"), TestContext.Current.CancellationToken);
        var direct = await Resolver().ResolveAsync(Direct("www.alias.test"), TestContext.Current.CancellationToken);

        var target = Assert.Single(result.Targets);
        Assert.Equal(("mx.alias.test", "192.0.2.50"), (target.HostName, target.Address.ToString()));
        Assert.Equal("192.0.2.50", Assert.Single(direct.Targets).Address.ToString());
    }

    [Fact(Timeout = Timeout)]
    public async Task A_bracketed_host_is_resolved_without_an_MX_lookup()
    {
        _dns.AddMx("relay.test", 10, "elsewhere.test");
        _dns.AddA("relay.test", "192.0.2.60");
        _dns.AddAaaa("relay.test", "2001:db8::60");

        var result = await Resolver().ResolveAsync(Direct("relay.test", 587), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.Found, result.Status);
        Assert.Equal(["relay.test[192.0.2.60]:587", "relay.test[2001:db8::60]:587"], result.Targets.Select(t => t.ToString()));
        Assert.DoesNotContain(_dns.Queries, q => q.Type == "MX");
    }

    [Fact(Timeout = Timeout)]
    public async Task A_bracketed_host_that_does_not_exist_or_fails_is_not_found_or_temporary()
    {
        _dns.SetServFail("flaky-relay.test");
        var resolver = Resolver();

        var missing = await resolver.ResolveAsync(Direct("missing-relay.test"), TestContext.Current.CancellationToken);
        var flaky = await resolver.ResolveAsync(Direct("flaky-relay.test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NotFound, missing.Status);
        Assert.Equal("Host or domain name not found. Name service error for name=missing-relay.test type=A: Host not found", missing.Detail);
        Assert.Equal(TargetResolutionStatus.TemporaryFailure, flaky.Status);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("192.0.2.70", "192.0.2.70")]
    [InlineData("[192.0.2.70]", "192.0.2.70")]
    [InlineData("2001:db8::70", "2001:db8::70")]
    [InlineData("[IPv6:2001:db8::70]", "2001:db8::70")]
    public async Task An_IP_address_host_needs_no_DNS(string host, string ip)
    {
        var result = await Resolver().ResolveAsync(Direct(host, 2525), TestContext.Current.CancellationToken);

        var target = Assert.Single(result.Targets);
        Assert.Equal((IPAddress.Parse(ip), 2525), (target.Address, target.Port));
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_name_that_cannot_be_a_DNS_name_is_not_found_without_a_query()
    {
        var result = await Resolver().ResolveAsync(Mx(new string('a', 64) + ".test"), TestContext.Current.CancellationToken);

        Assert.Equal(TargetResolutionStatus.NotFound, result.Status);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public void A_bad_DNS_server_entry_stops_start_up()
    {
        var ex = Assert.Throws<StartupException>(() =>
            new DnsResolver(new DnsOptions { Servers = ["127.0.0.1", "not-an-ip"] }, TimeProvider.System, NullLogger<DnsResolver>.Instance));
        Assert.Contains("Dns:Servers:1", ex.Message);
    }
}
