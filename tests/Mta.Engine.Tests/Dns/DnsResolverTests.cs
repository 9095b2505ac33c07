// The server's one resolver against the stub DNS server: typed answers, TXT joining, PTR names, the TTL cache.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;
using Mta.Testing;

namespace Mta.Engine.Tests.Dns;

public sealed class DnsResolverTests : IAsyncLifetime
{
    private StubDnsServer _dns = null!;
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-12-03T12:00:00Z"));

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    private DnsResolver Resolver(int cacheSize = 100) =>
        new(new DnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromMilliseconds(500), Retries = 0, CacheSize = cacheSize },
            _clock, NullLogger<DnsResolver>.Instance);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TXT_character_strings_are_joined_without_spaces_and_each_record_is_one_string()
    {
        _dns.AddTxt("example.test", "v=spf1 ip4:192.0.2.0/24 ", "-all");
        _dns.AddTxt("example.test", "other record");
        _dns.AddTxt("long.test", "p=" + new string('A', 600)); // split into 255-octet strings by the stub

        var txt = await Resolver().GetTxtAsync("example.test", Ct);
        Assert.Equal(DnsStatus.Found, txt.Status);
        Assert.Equal(["v=spf1 ip4:192.0.2.0/24 -all", "other record"], txt.Records.Order(StringComparer.Ordinal).Reverse().ToArray());
        Assert.Equal("p=" + new string('A', 600), Assert.Single((await Resolver().GetTxtAsync("long.test", Ct)).Records));
    }

    [Fact]
    public async Task NXDOMAIN_NODATA_and_SERVFAIL_are_told_apart()
    {
        _dns.AddA("host.test", "192.0.2.1");
        _dns.SetServFail("broken.test");
        var resolver = Resolver();

        var missing = await resolver.GetTxtAsync("missing.test", Ct);
        Assert.Equal(DnsStatus.NotFound, missing.Status);
        var nodata = await resolver.GetTxtAsync("host.test", Ct);
        Assert.Equal(DnsStatus.Found, nodata.Status);
        Assert.Empty(nodata.Records);
        Assert.False(nodata.HasRecords);
        var failed = await resolver.GetTxtAsync("broken.test", Ct);
        Assert.Equal(DnsStatus.TemporaryFailure, failed.Status);
        Assert.Contains("SERVFAIL", failed.Error);
    }

    [Fact]
    public async Task Addresses_MX_and_PTR_come_back_typed()
    {
        _dns.AddA("host.test", "192.0.2.1");
        _dns.AddAaaa("host.test", "2001:db8::1");
        _dns.AddMx("mail.test", 10, "mx.mail.test");
        _dns.AddMx("null.test", 0, ".");
        _dns.AddPtr("192.0.2.1", "host.test");
        _dns.AddPtr("2001:db8::1", "host6.test");
        var resolver = Resolver();

        Assert.Equal([IPAddress.Parse("192.0.2.1")], (await resolver.GetAddressesAsync("host.test", AddressFamily.InterNetwork, Ct)).Records);
        Assert.Equal([IPAddress.Parse("2001:db8::1")], (await resolver.GetAddressesAsync("host.test", AddressFamily.InterNetworkV6, Ct)).Records);
        Assert.Equal([new MxHost(10, "mx.mail.test")], (await resolver.GetMxAsync("mail.test", Ct)).Records);
        Assert.Equal([new MxHost(0, "")], (await resolver.GetMxAsync("null.test", Ct)).Records);
        Assert.Equal(["host.test"], (await resolver.GetPtrAsync(IPAddress.Parse("192.0.2.1"), Ct)).Records);
        Assert.Equal(["host6.test"], (await resolver.GetPtrAsync(IPAddress.Parse("2001:db8::1"), Ct)).Records);
        Assert.Equal("1.2.0.192.in-addr.arpa", DnsResolver.ReverseName(IPAddress.Parse("192.0.2.1")));
        Assert.StartsWith("1.0.0.0.", DnsResolver.ReverseName(IPAddress.Parse("2001:db8::1")));
        Assert.EndsWith(".8.b.d.0.1.0.0.2.ip6.arpa", DnsResolver.ReverseName(IPAddress.Parse("2001:db8::1")));
    }

    [Fact]
    public async Task Answers_are_cached_for_their_TTL_and_asked_again_after_it()
    {
        _dns.Ttl = 60;
        _dns.AddTxt("cached.test", "one");
        var resolver = Resolver();

        await resolver.GetTxtAsync("cached.test", Ct);
        await resolver.GetTxtAsync("CACHED.test.", Ct);
        Assert.Equal(1, _dns.Queries.Count(q => q.Name == "cached.test"));

        _clock.Advance(TimeSpan.FromSeconds(59));
        await resolver.GetTxtAsync("cached.test", Ct);
        Assert.Equal(1, _dns.Queries.Count(q => q.Name == "cached.test"));

        _clock.Advance(TimeSpan.FromSeconds(2));
        await resolver.GetTxtAsync("cached.test", Ct);
        Assert.Equal(2, _dns.Queries.Count(q => q.Name == "cached.test"));
    }

    [Fact]
    public async Task A_TTL_of_zero_failures_and_a_disabled_cache_are_never_cached()
    {
        _dns.Ttl = 0;
        _dns.AddTxt("volatile.test", "x");
        _dns.SetServFail("broken.test");
        var resolver = Resolver();
        for (var i = 0; i < 3; i++)
        {
            await resolver.GetTxtAsync("volatile.test", Ct);
            await resolver.GetTxtAsync("broken.test", Ct);
        }
        Assert.Equal(3, _dns.Queries.Count(q => q.Name == "volatile.test"));
        Assert.Equal(3, _dns.Queries.Count(q => q.Name == "broken.test"));

        _dns.Ttl = 300;
        _dns.AddTxt("steady.test", "y");
        var uncached = Resolver(cacheSize: 0);
        await uncached.GetTxtAsync("steady.test", Ct);
        await uncached.GetTxtAsync("steady.test", Ct);
        Assert.Equal(2, _dns.Queries.Count(q => q.Name == "steady.test"));
    }

    [Fact]
    public async Task An_answer_too_big_for_UDP_without_TCP_is_a_temporary_failure_not_an_exception()
    {
        // Forty 255-octet records do not fit 4096 octets of EDNS UDP; the stub sets TC and has no TCP listener.
        for (var i = 0; i < 40; i++) _dns.AddTxt("huge.test", new string((char)('a' + i % 26), 255));
        var answer = await Resolver().GetTxtAsync("huge.test", Ct);
        Assert.Equal(DnsStatus.TemporaryFailure, answer.Status);
    }

    [Fact]
    public async Task Internationalised_names_are_asked_and_matched_as_A_labels()
    {
        _dns.AddTxt("xn--bcher-kva.test", "v=spf1 -all");
        var resolver = Resolver(cacheSize: 0);
        Assert.Equal(["v=spf1 -all"], (await resolver.GetTxtAsync("xn--bcher-kva.test", Ct)).Records);
        Assert.Equal(["v=spf1 -all"], (await resolver.GetTxtAsync("bücher.test", Ct)).Records);
    }

    [Fact]
    public async Task A_name_that_cannot_be_a_DNS_name_is_not_found_without_a_query()
    {
        var answer = await Resolver().GetTxtAsync(new string('a', 64) + ".test", Ct);
        Assert.Equal(DnsStatus.NotFound, answer.Status);
        Assert.Equal(0, _dns.QueryCount);
    }
}
