// DmarcEvaluator against a stub DNS server: policy discovery, DKIM and SPF alignment, sp=, pct=, temperror, permerror.
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Authentication.Dmarc;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;
using Mta.Testing;

namespace Mta.Engine.Tests.Authentication.Dmarc;

public sealed class DmarcEvaluatorTests : IAsyncLifetime
{
    private const int Timeout = 15_000;
    private static readonly PublicSuffixList Psl = PublicSuffixList.Parse("com\nnet\nuk\nco.uk\n");
    private StubDnsServer _dns = null!;
    private int _rolls;

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    private DmarcEvaluator Evaluator(int roll = 0) =>
        new(new DnsResolver(new DnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromMilliseconds(500), Retries = 0 },
                TimeProvider.System, NullLogger<DnsResolver>.Instance),
            Psl, NullLogger<DmarcEvaluator>.Instance, () => { _rolls++; return roll; });

    private static DkimCheck Dkim(string domain, DkimResult result = DkimResult.Pass) => new(result, domain, "sel", "rsa-sha256");

    private static SpfCheck Spf(string domain, SpfResult result = SpfResult.Pass) => new(result, "bounce@" + domain, domain);

    private IReadOnlyList<string> DmarcQueries() => [.. _dns.Queries.Select(q => q.Name).Where(n => n.StartsWith("_dmarc.", StringComparison.Ordinal))];

    // Every test passes the test's token, so a test over its Timeout stops at once.
    private Task<DmarcCheck> Evaluate(CancellationToken ct, string from, DkimCheck[] dkim, SpfCheck? spf, int roll = 0) =>
        Evaluator(roll).EvaluateAsync([from], dkim, spf, ct);

    [Fact(Timeout = Timeout)]
    public async Task Aligned_DKIM_passes_and_nothing_is_done()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("example.com")], Spf("other.net"));
        Assert.Equal(DmarcResult.Pass, check.Result);
        Assert.Equal("example.com", check.FromDomain);
        Assert.Equal("example.com", check.PolicyDomain);
        Assert.Equal(DmarcPolicy.Reject, check.Policy);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.True(check.DkimAligned);
        Assert.False(check.SpfAligned);
        Assert.Contains("d=example.com", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Nothing_aligned_fails_with_the_policy()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("other.net"), Dkim("example.com", DkimResult.Fail)], Spf("example.com", SpfResult.SoftFail));
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal(DmarcPolicy.Reject, check.Policy);
        Assert.Equal(DmarcPolicy.Reject, check.Disposition);
        Assert.False(check.DkimAligned);
        Assert.False(check.SpfAligned);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_failure_under_p_none_is_only_reported()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=none; rua=mailto:dmarc@example.com");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null);
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal(DmarcPolicy.None, check.Policy);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
    }

    [Fact(Timeout = Timeout)]
    public async Task No_record_anywhere_is_none()
    {
        _dns.AddTxt("_dmarc.example.com", "v=spf1 -all"); // not a DMARC record: discarded
        var check = await Evaluate(TestContext.Current.CancellationToken, "mail.example.com", [Dkim("example.com")], null);
        Assert.Equal(DmarcResult.None, check.Result);
        Assert.Null(check.PolicyDomain);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.False(check.DkimAligned);
        Assert.Equal(["_dmarc.mail.example.com", "_dmarc.example.com"], DmarcQueries());
    }

    [Theory(Timeout = Timeout)]
    [InlineData("r", "example.com", true)]
    [InlineData("r", "mail.example.com", true)]       // relaxed: same organizational domain
    [InlineData("r", "a.b.example.com", true)]
    [InlineData("s", "example.com", true)]
    [InlineData("s", "EXAMPLE.COM.", true)]
    [InlineData("s", "mail.example.com", false)]      // strict: a subdomain is not the author domain
    [InlineData("r", "example.net", false)]
    [InlineData("r", "com", false)]
    [InlineData("r", "badexample.com", false)]
    public async Task DKIM_alignment(string mode, string signingDomain, bool aligned)
    {
        _dns.AddTxt("_dmarc.example.com", $"v=DMARC1; p=quarantine; adkim={mode}");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim(signingDomain)], null);
        Assert.Equal(aligned, check.DkimAligned);
        Assert.False(check.SpfAligned);
        Assert.Equal(aligned ? DmarcResult.Pass : DmarcResult.Fail, check.Result);
        Assert.Equal(aligned ? DmarcPolicy.None : DmarcPolicy.Quarantine, check.Disposition);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("r", "example.com", true)]
    [InlineData("r", "bounce.example.com", true)]     // relaxed: same organizational domain
    [InlineData("s", "example.com", true)]
    [InlineData("s", "bounce.example.com", false)]    // strict: a subdomain is not the author domain
    [InlineData("r", "example.net", false)]
    public async Task SPF_alignment(string mode, string mailFromDomain, bool aligned)
    {
        _dns.AddTxt("_dmarc.example.com", $"v=DMARC1; p=reject; aspf={mode}; adkim=r");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("unrelated.net")], Spf(mailFromDomain));
        Assert.Equal(aligned, check.SpfAligned);
        Assert.False(check.DkimAligned);
        Assert.Equal(aligned ? DmarcResult.Pass : DmarcResult.Fail, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Relaxed_alignment_with_a_subdomain_author_uses_organizational_domains()
    {
        _dns.AddTxt("_dmarc.news.example.com", "v=DMARC1; p=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "news.example.com", [Dkim("mail.example.com")], Spf("bounce.example.com"));
        Assert.Equal(DmarcResult.Pass, check.Result);
        Assert.True(check.DkimAligned);
        Assert.True(check.SpfAligned);
    }

    [Fact(Timeout = Timeout)]
    public async Task An_SPF_result_other_than_pass_never_aligns()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        foreach (var result in new[] { SpfResult.Neutral, SpfResult.SoftFail, SpfResult.Fail, SpfResult.None, SpfResult.TempError, SpfResult.PermError })
        {
            var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], Spf("example.com", result));
            Assert.False(check.SpfAligned, result.ToString());
            Assert.Equal(DmarcResult.Fail, check.Result);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task A_subdomain_gets_sp_from_the_organizational_domain_record()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=none; sp=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "mail.example.com", [], Spf("other.net"));
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal("mail.example.com", check.FromDomain);
        Assert.Equal("example.com", check.PolicyDomain);
        Assert.Equal(DmarcPolicy.Reject, check.Policy);
        Assert.Equal(DmarcPolicy.Reject, check.Disposition);
        Assert.Equal(["_dmarc.mail.example.com", "_dmarc.example.com"], DmarcQueries());
    }

    [Fact(Timeout = Timeout)]
    public async Task The_organizational_domain_itself_gets_p_not_sp()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=none; sp=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null);
        Assert.Equal(DmarcPolicy.None, check.Policy);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
    }

    [Fact(Timeout = Timeout)]
    public async Task Without_sp_a_subdomain_gets_p_of_the_organizational_domain()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=quarantine");
        var check = await Evaluate(TestContext.Current.CancellationToken, "a.b.example.com", [], null);
        Assert.Equal("example.com", check.PolicyDomain);
        Assert.Equal(DmarcPolicy.Quarantine, check.Policy);
        Assert.Equal(DmarcPolicy.Quarantine, check.Disposition);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_record_at_the_author_domain_wins_over_the_organizational_domain()
    {
        _dns.AddTxt("_dmarc.mail.example.com", "v=DMARC1; p=none");
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject; sp=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "mail.example.com", [], null);
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal("mail.example.com", check.PolicyDomain);
        Assert.Equal(DmarcPolicy.None, check.Policy);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Equal(["_dmarc.mail.example.com"], DmarcQueries());
    }

    [Theory(Timeout = Timeout)]
    [InlineData("reject", 0, 0, DmarcPolicy.Quarantine)]     // pct=0: everything is outside the sample, one step milder
    [InlineData("reject", 100, 99, DmarcPolicy.Reject)]      // pct=100: everything inside
    [InlineData("reject", 50, 49, DmarcPolicy.Reject)]
    [InlineData("reject", 50, 50, DmarcPolicy.Quarantine)]
    [InlineData("quarantine", 0, 0, DmarcPolicy.None)]
    [InlineData("quarantine", 30, 10, DmarcPolicy.Quarantine)]
    public async Task Pct_samples_failing_mail(string policy, int pct, int roll, DmarcPolicy disposition)
    {
        _dns.AddTxt("_dmarc.example.com", $"v=DMARC1; p={policy}; pct={pct}");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null, roll);
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal(policy == "reject" ? DmarcPolicy.Reject : DmarcPolicy.Quarantine, check.Policy);
        Assert.Equal(disposition, check.Disposition);
        if (disposition != check.Policy) Assert.Contains($"outside pct={pct}", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Pct_is_not_sampled_for_passing_mail_or_full_coverage()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject; pct=0");
        _dns.AddTxt("_dmarc.full.example.com", "v=DMARC1; p=reject");
        var passed = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("example.com")], null);
        var full = await Evaluate(TestContext.Current.CancellationToken, "full.example.com", [], null);
        Assert.Equal(DmarcPolicy.None, passed.Disposition);
        Assert.Equal(DmarcPolicy.Reject, full.Disposition);
        Assert.Equal(0, _rolls);
    }

    [Fact(Timeout = Timeout)]
    public async Task SERVFAIL_for_the_record_is_a_temperror()
    {
        _dns.SetServFail("_dmarc.example.com");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("example.com")], null);
        Assert.Equal(DmarcResult.TempError, check.Result);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Contains("_dmarc.example.com", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task SERVFAIL_for_the_organizational_domain_record_is_a_temperror()
    {
        _dns.SetServFail("_dmarc.example.com");
        var check = await Evaluate(TestContext.Current.CancellationToken, "mail.example.com", [], null);
        Assert.Equal(DmarcResult.TempError, check.Result);
        Assert.Equal(["_dmarc.mail.example.com", "_dmarc.example.com"], DmarcQueries());
    }

    [Fact(Timeout = Timeout)]
    public async Task No_answer_at_all_is_a_temperror()
    {
        _dns.SetNoResponse("_dmarc.example.com");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null);
        Assert.Equal(DmarcResult.TempError, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Several_distinct_From_domains_are_a_permerror()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluator().EvaluateAsync(["example.com", "example.net"], [Dkim("example.com")], null, TestContext.Current.CancellationToken);
        Assert.Equal(DmarcResult.PermError, check.Result);
        Assert.Equal("", check.FromDomain);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Contains("2 different domains", check.Detail);
        Assert.Empty(DmarcQueries());
    }

    [Fact(Timeout = Timeout)]
    public async Task The_same_From_domain_twice_is_one_author_domain()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluator().EvaluateAsync(["example.com", "EXAMPLE.com."], [Dkim("example.com")], null, TestContext.Current.CancellationToken);
        Assert.Equal(DmarcResult.Pass, check.Result);
        Assert.Equal("example.com", check.FromDomain);
    }

    [Theory(Timeout = Timeout)]
    [InlineData(new string[0], "no domain")]
    [InlineData(new[] { "" }, "not a domain name")]
    [InlineData(new[] { "exa mple.com" }, "not a domain name")]
    public async Task No_usable_From_domain_is_a_permerror(string[] from, string why)
    {
        var check = await Evaluator().EvaluateAsync(from, [], null, TestContext.Current.CancellationToken);
        Assert.Equal(DmarcResult.PermError, check.Result);
        Assert.Contains(why, check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task Several_DMARC_records_are_none_and_stop_discovery()
    {
        _dns.AddTxt("_dmarc.mail.example.com", "v=DMARC1; p=reject");
        _dns.AddTxt("_dmarc.mail.example.com", "v=DMARC1; p=none");
        _dns.AddTxt("_dmarc.mail.example.com", "google-site-verification=abc");
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "mail.example.com", [], null);
        Assert.Equal(DmarcResult.None, check.Result);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Contains("several", check.Detail);
        Assert.Equal(["_dmarc.mail.example.com"], DmarcQueries());
    }

    [Fact(Timeout = Timeout)]
    public async Task A_DMARC_record_among_other_TXT_records_is_used()
    {
        _dns.AddTxt("_dmarc.example.com", "some-verification=xyz");
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; ", "p=quarantine"); // two character-strings, joined
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null);
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal(DmarcPolicy.Quarantine, check.Disposition);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_malformed_record_is_a_permerror()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject; pct=150");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [Dkim("example.com")], null);
        Assert.Equal(DmarcResult.PermError, check.Result);
        Assert.Equal("example.com", check.PolicyDomain);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Contains("pct=150", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_missing_policy_with_rua_is_evaluated_as_none()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; rua=mailto:dmarc@example.com");
        var check = await Evaluate(TestContext.Current.CancellationToken, "example.com", [], null);
        Assert.Equal(DmarcResult.Fail, check.Result);
        Assert.Equal(DmarcPolicy.None, check.Policy);
        Assert.Equal(DmarcPolicy.None, check.Disposition);
        Assert.Contains("read as none", check.Detail);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_author_domain_is_normalized()
    {
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject");
        var check = await Evaluate(TestContext.Current.CancellationToken, "Example.COM.", [Dkim("example.com")], null);
        Assert.Equal(DmarcResult.Pass, check.Result);
        Assert.Equal("example.com", check.FromDomain);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_public_suffix_author_has_no_organizational_domain_lookup()
    {
        var check = await Evaluate(TestContext.Current.CancellationToken, "co.uk", [Dkim("example.co.uk")], null);
        Assert.Equal(DmarcResult.None, check.Result);
        Assert.Equal(["_dmarc.co.uk"], DmarcQueries());
    }

    [Fact(Timeout = Timeout)]
    public async Task A_resolver_that_throws_gives_a_temperror()
    {
        var evaluator = new DmarcEvaluator(new ThrowingResolver(), Psl, NullLogger<DmarcEvaluator>.Instance);
        var check = await evaluator.EvaluateAsync(["example.com"], [], null, TestContext.Current.CancellationToken);
        Assert.Equal(DmarcResult.TempError, check.Result);
    }

    [Fact(Timeout = Timeout)]
    public async Task Cancellation_throws()
    {
        _dns.SetNoResponse("_dmarc.example.com");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Evaluator().EvaluateAsync(["example.com"], [], null, cts.Token));
    }

    private sealed class ThrowingResolver : IDnsResolver
    {
        public ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken) => throw new InvalidOperationException("broken");
        public ValueTask<DnsAnswer<System.Net.IPAddress>> GetAddressesAsync(string name, System.Net.Sockets.AddressFamily family, CancellationToken cancellationToken) => throw new InvalidOperationException("broken");
        public ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken) => throw new InvalidOperationException("broken");
        public ValueTask<DnsAnswer<string>> GetPtrAsync(System.Net.IPAddress address, CancellationToken cancellationToken) => throw new InvalidOperationException("broken");
    }
}
