// ArcVerification: chains sealed with MimeKit's ArcSigner, keys on the stub DNS, tampering and malformed ARC fields.
using MimeKit;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Mta.Engine.Authentication.Arc;
using Mta.Engine.Tests.Authentication.Dkim;
using Org.BouncyCastle.Crypto;
using static Mta.Engine.Tests.Authentication.Dkim.DkimMessages;

namespace Mta.Engine.Tests.Authentication.Arc;

public sealed class ArcVerificationTests : IAsyncLifetime
{
    private readonly DkimDns _dns = DkimDns.Start();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    /// <summary>An ArcSigner whose ARC-Authentication-Results say what the test wants, with arc= giving the next cv=.</summary>
    private sealed class TestArcSigner(AsymmetricKeyParameter key, string domain, string selector, DkimSignatureAlgorithm algorithm, string? arcResult)
        : ArcSigner(key, domain, selector, algorithm)
    {
        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message, CancellationToken cancellationToken)
        {
            var results = new AuthenticationResults(Domain);
            results.Results.Add(new AuthenticationMethodResult("spf", "pass"));
            if (arcResult is not null) results.Results.Add(new AuthenticationMethodResult("arc", arcResult));
            return results;
        }

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(GenerateArcAuthenticationResults(options, message, cancellationToken));
    }

    private static async Task<string> Seal(string text, AsymmetricCipherKeyPair pair, string domain, string selector,
        DkimSignatureAlgorithm algorithm = DkimSignatureAlgorithm.RsaSha256, string? arcResult = null)
    {
        var message = Parse(text);
        var signer = new TestArcSigner(pair.Private, domain, selector, algorithm, arcResult)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        await signer.SignAsync(message, ["From", "To", "Subject", "Date"], TestContext.Current.CancellationToken);
        return Serialize(message);
    }

    private async Task<ArcCheck> Verify(string text) =>
        await new ArcVerification(_dns.Resolver).VerifyAsync(Parse(text), TestContext.Current.CancellationToken);

    private async Task<string> TwoHops()
    {
        _dns.Publish("arc", "relay1.example", DkimTestKeys.Rsa2048);
        _dns.Publish("ed", "relay2.example", DkimTestKeys.Ed25519);
        var first = await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc");
        return await Seal(first, DkimTestKeys.Ed25519, "relay2.example", "ed", DkimSignatureAlgorithm.Ed25519Sha256, arcResult: "pass");
    }

    [Fact]
    public async Task A_message_without_arc_is_none()
    {
        Assert.Equal(new ArcCheck(ArcResult.None, 0), await Verify(Plain));
    }

    [Fact]
    public async Task One_sealed_hop_passes()
    {
        _dns.Publish("arc", "relay1.example", DkimTestKeys.Rsa2048);
        var check = await Verify(await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc"));
        Assert.Equal(ArcResult.Pass, check.Result);
        Assert.Equal(1, check.Instances);
        Assert.Equal(["relay1.example"], check.Domains!);
        Assert.Null(check.Detail);
    }

    [Fact]
    public async Task Two_sealed_hops_pass_with_the_domains_oldest_first()
    {
        var check = await Verify(await TwoHops());
        Assert.Equal(ArcResult.Pass, check.Result);
        Assert.Equal(2, check.Instances);
        Assert.Equal(["relay1.example", "relay2.example"], check.Domains!);
    }

    [Fact]
    public async Task A_body_changed_after_sealing_fails_the_message_signature()
    {
        var check = await Verify(ReplaceOnce(await TwoHops(), "at noon", "at one"));
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Equal(2, check.Instances);
        Assert.Contains("ARC-Message-Signature i=2 did not verify", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sealed_header_changed_after_sealing_fails()
    {
        var check = await Verify(ReplaceOnce(await TwoHops(), "Subject: Lunch on Thursday", "Subject: Lunch on Friday"));
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Contains("ARC-Message-Signature i=2 did not verify", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_older_arc_set_changed_breaks_its_seal()
    {
        var sealedTwice = await TwoHops();
        var aar1 = sealedTwice.IndexOf("ARC-Authentication-Results: i=1;", StringComparison.Ordinal);
        Assert.True(aar1 >= 0);
        var tampered = sealedTwice[..aar1] + ReplaceOnce(sealedTwice[aar1..], "spf=pass", "spf=fail");
        var check = await Verify(tampered);
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Contains("ARC-Seal i=2 did not verify", check.Detail, StringComparison.Ordinal);
        Assert.Contains("ARC-Seal i=1 did not verify", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chain_a_hop_sealed_as_failed_fails()
    {
        _dns.Publish("arc", "relay1.example", DkimTestKeys.Rsa2048);
        var first = await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc");
        var second = await Seal(first, DkimTestKeys.Rsa2048, "relay1.example", "arc", arcResult: "fail");
        var check = await Verify(second);
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Contains("cv=", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_key_fails_with_the_lookup_error()
    {
        var check = await Verify(await Seal(Plain, DkimTestKeys.Rsa2048, "unpublished.example", "arc"));
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Contains("no key record at arc._domainkey.unpublished.example", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dns_failure_fails_with_the_dns_error()
    {
        _dns.Server.SetServFail("arc._domainkey.relay1.example");
        var check = await Verify(await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc"));
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Contains("DNS failed", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_arc_seal_fails()
    {
        var sealedOnce = await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc");
        var start = sealedOnce.IndexOf("ARC-Seal:", StringComparison.Ordinal);
        var end = sealedOnce.IndexOf("\r\nARC-Message-Signature:", start, StringComparison.Ordinal);
        var broken = sealedOnce[..start] + "ARC-Seal: i=1; this is garbage" + sealedOnce[end..];
        var check = await Verify(broken);
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.Equal(1, check.Instances);
        Assert.False(string.IsNullOrEmpty(check.Detail));
    }

    [Theory]
    [InlineData("ARC-Seal: garbage\r\n")]
    [InlineData("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.example; s=s; b=dGVzdA==\r\n")]
    [InlineData("ARC-Message-Signature: i=0; nonsense\r\n")]
    [InlineData("ARC-Authentication-Results: i=99; x.example; spf=pass\r\n")]
    [InlineData("ARC-Seal: i=1; i=2\r\nARC-Seal: i=1; ;;;\r\n")]
    public async Task Lone_or_malformed_arc_fields_fail_never_throw(string fields)
    {
        var check = await Verify(fields + Plain);
        Assert.Equal(ArcResult.Fail, check.Result);
        Assert.False(string.IsNullOrEmpty(check.Detail));
    }

    [Fact]
    public async Task Cancellation_throws()
    {
        _dns.Publish("arc", "relay1.example", DkimTestKeys.Rsa2048);
        var sealedOnce = await Seal(Plain, DkimTestKeys.Rsa2048, "relay1.example", "arc");
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new ArcVerification(_dns.Resolver).VerifyAsync(Parse(sealedOnce), cts.Token));
    }
}
