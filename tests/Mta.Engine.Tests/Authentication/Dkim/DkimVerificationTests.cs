// DkimVerification end to end: MimeKit-signed messages, keys on a stub DNS server, every result and problem it reports.
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Mta.Engine.Authentication.Dkim;
using Org.BouncyCastle.Crypto;
using static Mta.Engine.Tests.Authentication.Dkim.DkimMessages;

namespace Mta.Engine.Tests.Authentication.Dkim;

public sealed class DkimVerificationTests : IAsyncLifetime
{
    private const string Domain = "example.org";
    private readonly DkimDns _dns = DkimDns.Start();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => _dns.DisposeAsync();

    private DkimVerification Verifier(TimeProvider? time = null, int maxSignatures = 5) =>
        new(_dns.Resolver, time ?? TimeProvider.System, maxSignatures);

    private static string SignText(string text, AsymmetricCipherKeyPair pair, string selector,
        DkimSignatureAlgorithm algorithm = DkimSignatureAlgorithm.RsaSha256,
        DkimCanonicalizationAlgorithm header = DkimCanonicalizationAlgorithm.Relaxed,
        DkimCanonicalizationAlgorithm body = DkimCanonicalizationAlgorithm.Relaxed,
        TimeSpan? expireAfter = null, string? identity = null, string domain = Domain)
    {
        var message = Parse(text);
        var signer = new DkimSigner(pair.Private, domain, selector, algorithm)
        {
            HeaderCanonicalizationAlgorithm = header,
            BodyCanonicalizationAlgorithm = body,
            SignaturesExpireAfter = expireAfter,
            AgentOrUserIdentifier = identity,
        };
        signer.Sign(message, SignedFields.Where(f => message.Headers.Contains(f)).ToList());
        return Serialize(message);
    }

    private async Task<DkimCheck> VerifySingle(string text, DkimVerification? verifier = null)
    {
        var results = await (verifier ?? Verifier()).VerifyAsync(Parse(text), TestContext.Current.CancellationToken);
        return Assert.Single(results);
    }

    [Fact]
    public async Task Rsa_sha256_with_a_2048_bit_key_passes()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var signed = SignText(Plain, DkimTestKeys.Rsa2048, "rsa");
        var check = await VerifySingle(signed);
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.Equal(DkimProblem.None, check.Problem);
        Assert.Equal((Domain, "rsa", "rsa-sha256"), (check.Domain, check.Selector, check.Algorithm));
        Assert.False(check.Testing);
        var b = Parse(signed).Headers[HeaderId.DkimSignature]!.Split("b=").Last().Replace(" ", "", StringComparison.Ordinal);
        Assert.Equal(b[..8], check.SignaturePrefix);
    }

    [Fact]
    public async Task Ed25519_sha256_passes()
    {
        _dns.Publish("ed", Domain, DkimTestKeys.Ed25519);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Ed25519, "ed", DkimSignatureAlgorithm.Ed25519Sha256));
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.Equal("ed25519-sha256", check.Algorithm);
    }

    [Fact]
    public async Task A_message_without_signatures_gives_no_results()
    {
        Assert.Empty(await Verifier().VerifyAsync(Parse(Plain), TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(DkimSignatureAlgorithm.RsaSha256)]
    [InlineData(DkimSignatureAlgorithm.Ed25519Sha256)]
    public async Task A_changed_body_fails_with_body_hash_mismatch(DkimSignatureAlgorithm algorithm)
    {
        var pair = algorithm == DkimSignatureAlgorithm.Ed25519Sha256 ? DkimTestKeys.Ed25519 : DkimTestKeys.Rsa2048;
        _dns.Publish("k", Domain, pair);
        var tampered = ReplaceOnce(SignText(Plain, pair, "k", algorithm), "at noon", "at one");
        var check = await VerifySingle(tampered);
        Assert.Equal(DkimResult.Fail, check.Result);
        Assert.Equal(DkimProblem.BodyHashMismatch, check.Problem);
        Assert.Equal("body hash did not verify", check.Detail);
    }

    [Theory]
    [InlineData(DkimSignatureAlgorithm.RsaSha256)]
    [InlineData(DkimSignatureAlgorithm.Ed25519Sha256)]
    public async Task A_changed_signed_header_fails_with_signature_mismatch(DkimSignatureAlgorithm algorithm)
    {
        var pair = algorithm == DkimSignatureAlgorithm.Ed25519Sha256 ? DkimTestKeys.Ed25519 : DkimTestKeys.Rsa2048;
        _dns.Publish("k", Domain, pair);
        var tampered = ReplaceOnce(SignText(Plain, pair, "k", algorithm), "Subject: Lunch on Thursday", "Subject: Lunch on Friday");
        var check = await VerifySingle(tampered);
        Assert.Equal(DkimResult.Fail, check.Result);
        Assert.Equal(DkimProblem.SignatureMismatch, check.Problem);
        Assert.Equal("signature did not verify", check.Detail);
    }

    [Fact]
    public async Task A_different_key_in_dns_fails_with_signature_mismatch()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa1024);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"));
        Assert.Equal((DkimResult.Fail, DkimProblem.SignatureMismatch), (check.Result, check.Problem));
    }

    [Fact]
    public async Task An_unsigned_header_may_change()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var signed = SignText(Plain, DkimTestKeys.Rsa2048, "rsa");
        var check = await VerifySingle("Received: from relay.example.net\r\nX-Spam: no\r\n" + signed);
        Assert.Equal(DkimResult.Pass, check.Result);
    }

    [Fact]
    public async Task No_key_record_is_permerror_key_not_found()
    {
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "missing"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyNotFound), (check.Result, check.Problem));
        Assert.Contains("missing._domainkey.example.org", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_without_txt_records_is_key_not_found()
    {
        _dns.Server.AddA("nodata._domainkey.example.org", "192.0.2.1");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "nodata"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyNotFound), (check.Result, check.Problem));
    }

    [Fact]
    public async Task An_empty_p_is_permerror_key_revoked()
    {
        _dns.Server.AddTxt("old._domainkey.example.org", "v=DKIM1; k=rsa; p=");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "old"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyRevoked), (check.Result, check.Problem));
    }

    [Fact]
    public async Task Servfail_is_temperror()
    {
        _dns.Server.SetServFail("rsa._domainkey.example.org");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"));
        Assert.Equal((DkimResult.TempError, DkimProblem.DnsFailure), (check.Result, check.Problem));
    }

    [Fact]
    public async Task A_dns_timeout_is_temperror()
    {
        _dns.Server.SetNoResponse("rsa._domainkey.example.org");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"));
        Assert.Equal((DkimResult.TempError, DkimProblem.DnsFailure), (check.Result, check.Problem));
    }

    [Theory]
    [InlineData("v=DKIM1; k=rsa; p=!!!notbase64", "malformed")]
    [InlineData("k=rsa; v=DKIM1; p=MIIB", "v= is not the first tag")]
    [InlineData("v=DKIM1; k=rsa; p=AAAA", "not a valid RSA public key")]
    [InlineData("v=DKIM1; k=dsa; p=AAAA", "unknown key type")]
    [InlineData("v=DKIM1; k=rsa", "no p= tag")]
    [InlineData("v=spf1 -all", "malformed")]
    public async Task A_malformed_or_unusable_key_record_is_permerror_key_unusable(string record, string detail)
    {
        _dns.Server.AddTxt("bad._domainkey.example.org", record);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "bad"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyUnusable), (check.Result, check.Problem));
        Assert.Contains(detail, check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("h=sha1; ", "does not allow sha256")]
    [InlineData("s=tlsrpt; ", "not for email")]
    public async Task A_key_record_restricting_hash_or_service_is_key_unusable(string tags, string detail)
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048, tags);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyUnusable), (check.Result, check.Problem));
        Assert.Contains(detail, check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ed25519_key_for_an_rsa_signature_is_key_unusable()
    {
        _dns.Publish("mix", Domain, DkimTestKeys.Ed25519);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "mix"));
        Assert.Equal((DkimResult.PermError, DkimProblem.KeyUnusable), (check.Result, check.Problem));
    }

    [Fact]
    public async Task Key_records_allowing_sha256_and_email_explicitly_pass()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048, "h=sha1:sha256; s=email; n=a note; ");
        Assert.Equal(DkimResult.Pass, (await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"))).Result);
    }

    [Fact]
    public async Task With_several_txt_records_the_first_that_parses_is_used()
    {
        _dns.Server.AddTxt("rsa._domainkey.example.org", "some verification token");
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        Assert.Equal(DkimResult.Pass, (await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"))).Result);
    }

    [Fact]
    public async Task A_testing_key_is_flagged()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048, "t=y; ");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"));
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.True(check.Testing);

        var failed = await VerifySingle(ReplaceOnce(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"), "Alice\r\n", "Eve\r\n"));
        Assert.Equal(DkimResult.Fail, failed.Result);
        Assert.True(failed.Testing);
    }

    [Fact]
    public async Task A_strict_key_refuses_an_identity_in_a_subdomain()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048, "t=s; ");
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", identity: "alice@mail.example.org"));
        Assert.Equal((DkimResult.PermError, DkimProblem.IdentityMismatch), (check.Result, check.Problem));
        Assert.Equal("alice@mail.example.org", check.Identity);

        var same = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", identity: "alice@example.org"));
        Assert.Equal(DkimResult.Pass, same.Result);
    }

    [Fact]
    public async Task Rsa_sha1_that_verifies_is_policy()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var signed = SignText(Plain, DkimTestKeys.Rsa2048, "rsa", DkimSignatureAlgorithm.RsaSha1);
        var check = await VerifySingle(signed);
        Assert.Equal((DkimResult.Policy, DkimProblem.UnsupportedAlgorithm), (check.Result, check.Problem));
        Assert.Equal("rsa-sha1", check.Algorithm);
        Assert.Equal("rsa-sha1 is not accepted (RFC 8301)", check.Detail);

        var tampered = await VerifySingle(ReplaceOnce(signed, "at noon", "at one"));
        Assert.Equal((DkimResult.Fail, DkimProblem.BodyHashMismatch), (tampered.Result, tampered.Problem));
    }

    [Fact]
    public async Task A_512_bit_rsa_key_is_policy()
    {
        _dns.Publish("short", Domain, DkimTestKeys.Rsa512);
        var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa512, "short"));
        Assert.Equal((DkimResult.Policy, DkimProblem.KeyUnusable), (check.Result, check.Problem));
        Assert.Contains("512 bits", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_1024_bit_rsa_key_passes_at_the_default_minimum_and_not_above()
    {
        _dns.Publish("k1024", Domain, DkimTestKeys.Rsa1024);
        var signed = SignText(Plain, DkimTestKeys.Rsa1024, "k1024");
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed)).Result);
        var strict = new DkimVerification(_dns.Resolver, TimeProvider.System, minimumRsaKeyBits: 2048);
        Assert.Equal(DkimResult.Policy, (await VerifySingle(signed, strict)).Result);
    }

    [Fact]
    public async Task An_expired_signature_is_permerror_expired()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var signed = SignText(Plain, DkimTestKeys.Rsa2048, "rsa", expireAfter: TimeSpan.FromHours(1));
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed)).Result);

        var later = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(2));
        var check = await VerifySingle(signed, Verifier(later));
        Assert.Equal((DkimResult.PermError, DkimProblem.Expired), (check.Result, check.Problem));
    }

    [Fact]
    public async Task A_signature_from_the_future_is_permerror_but_a_little_clock_skew_is_allowed()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var signed = SignText(Plain, DkimTestKeys.Rsa2048, "rsa");

        var skewed = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(-3));
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed, Verifier(skewed))).Result);

        var earlier = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-1));
        var check = await VerifySingle(signed, Verifier(earlier));
        Assert.Equal((DkimResult.PermError, DkimProblem.FutureTimestamp), (check.Result, check.Problem));
    }

    [Fact]
    public async Task Only_the_first_signatures_up_to_the_limit_are_reported()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var message = Parse(Plain);
        for (var i = 0; i < 7; i++)
        {
            var signer = new DkimSigner(DkimTestKeys.Rsa2048.Private, i < 3 ? Domain : $"d{i}.example", "rsa")
            {
                HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            };
            signer.Sign(message, ["From", "Subject"]);
        }
        // Each signature goes on top: the first fields in header order are those of d6..d3.example.
        var results = await Verifier(maxSignatures: 5).VerifyAsync(Parse(Serialize(message)), TestContext.Current.CancellationToken);
        Assert.Equal(["d6.example", "d5.example", "d4.example", "d3.example", Domain], results.Select(r => r.Domain));
        Assert.Equal(DkimResult.Pass, results[4].Result);
        Assert.All(results.Take(4), r => Assert.Equal(DkimProblem.KeyNotFound, r.Problem));
    }

    [Fact]
    public async Task A_manually_signed_message_passes()
    {
        _dns.Publish("man", Domain, DkimTestKeys.Rsa2048);
        var signed = ManualDkimSigner.Sign(Plain, DkimTestKeys.Rsa2048.Private, Domain, "man", ["from", "to", "subject"]);
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed)).Result);
    }

    [Fact]
    public async Task A_body_length_covering_part_of_the_body_passes_with_a_detail()
    {
        _dns.Publish("man", Domain, DkimTestKeys.Rsa2048);
        var bodyLength = ManualDkimSigner.RelaxedBody(Plain[(Plain.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).Length;
        var signed = ManualDkimSigner.Sign(Plain, DkimTestKeys.Rsa2048.Private, Domain, "man", ["from", "subject"], bodyLength: bodyLength);
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed)).Result);
        Assert.Null((await VerifySingle(signed)).Detail);

        var appended = signed + "Buy cheap watches!\r\n";
        var check = await VerifySingle(appended);
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.Equal($"the signature covers {bodyLength} of {bodyLength + 20} body octets (l=)", check.Detail);
    }

    [Fact]
    public async Task A_body_length_longer_than_the_body_fails()
    {
        _dns.Publish("man", Domain, DkimTestKeys.Rsa2048);
        var bodyLength = ManualDkimSigner.RelaxedBody(Plain[(Plain.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).Length;
        var signed = ManualDkimSigner.Sign(Plain, DkimTestKeys.Rsa2048.Private, Domain, "man", ["from", "subject"], declaredLength: bodyLength + 10);
        var check = await VerifySingle(signed);
        Assert.Equal((DkimResult.Fail, DkimProblem.BodyLength), (check.Result, check.Problem));
    }

    public static TheoryData<string, DkimResult, DkimProblem> MalformedSignatures() => new()
    {
        { "v=1; a=rsa-sha256; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=dGVzdA==; b=!!!notbase64", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "a=rsa-sha256; d=example.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.IdentityMismatch },
        { "v=1; a=rsa-sha256; d=example.org; i=eve@example.com; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.IdentityMismatch },
        { "v=1; a=rsa-sha256; d=example.org; i=eve@badexample.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.IdentityMismatch },
        { "v=1; a=rsa-sha256; d=example.org; i=noat; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "this is not a tag list at all", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha512; d=example.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.Neutral, DkimProblem.UnsupportedAlgorithm },
        { "v=1; a=rsa-sha256; c=fancy/simple; d=example.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; l=-5; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; t=200; x=100; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; q=http/json; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=exa mple.org; s=sel; h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; h=from::to; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
        { "v=1; a=rsa-sha256; d=example.org; s=sel; 1h=from; bh=dGVzdA==; b=dGVzdA==", DkimResult.PermError, DkimProblem.MalformedSignature },
    };

    [Theory]
    [MemberData(nameof(MalformedSignatures))]
    public async Task Malformed_signature_fields_are_reported_never_thrown(string field, DkimResult result, DkimProblem problem)
    {
        _dns.Publish("sel", Domain, DkimTestKeys.Rsa2048);
        var check = await VerifySingle($"DKIM-Signature: {field}\r\n" + Plain);
        Assert.Equal((result, problem), (check.Result, check.Problem));
        Assert.False(string.IsNullOrEmpty(check.Detail));
    }

    [Fact]
    public async Task A_malformed_field_still_reports_what_it_could_read()
    {
        var check = await VerifySingle("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=dGVzdA==; b=abcdefghij; x\r\n" + Plain);
        Assert.Equal((DkimResult.PermError, DkimProblem.MalformedSignature), (check.Result, check.Problem));
        Assert.Equal(("example.org", "sel", "rsa-sha256", "abcdefgh"), (check.Domain, check.Selector, check.Algorithm, check.SignaturePrefix));
    }

    [Fact]
    public async Task A_well_formed_field_with_a_wrong_signature_fails()
    {
        _dns.Publish("sel", Domain, DkimTestKeys.Rsa2048);
        var bh = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.ASCII.GetBytes(ManualDkimSigner.RelaxedBody("Shall we meet at noon?\r\n\r\nAlice\r\n"))));
        var check = await VerifySingle($"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel; h=from; bh={bh}; b=dGVzdA==\r\n" + Plain);
        Assert.Equal((DkimResult.Fail, DkimProblem.SignatureMismatch), (check.Result, check.Problem));
    }

    // Canonicalization (RFC 6376 3.4): what a relay may change and what it may not.

    [Fact]
    public async Task Trailing_whitespace_added_to_body_lines_passes_relaxed_and_fails_simple()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        static string Pad(string signed) => ReplaceOnce(signed, "at noon?\r\n", "at noon?  \t\r\n");
        var relaxed = await VerifySingle(Pad(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", body: DkimCanonicalizationAlgorithm.Relaxed)));
        var simple = await VerifySingle(Pad(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", body: DkimCanonicalizationAlgorithm.Simple)));
        Assert.Equal(DkimResult.Pass, relaxed.Result);
        Assert.Equal((DkimResult.Fail, DkimProblem.BodyHashMismatch), (simple.Result, simple.Problem));
    }

    [Fact]
    public async Task Trailing_empty_lines_added_to_the_body_pass_both_canonicalizations()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        foreach (var body in new[] { DkimCanonicalizationAlgorithm.Simple, DkimCanonicalizationAlgorithm.Relaxed })
        {
            var check = await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", body: body) + "\r\n\r\n");
            Assert.Equal(DkimResult.Pass, check.Result);
        }
    }

    [Fact]
    public async Task Whitespace_changed_in_a_header_value_passes_relaxed_and_fails_simple()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        static string Pad(string signed) => ReplaceOnce(signed, "Subject: Lunch on Thursday\r\n", "Subject:  Lunch  on Thursday \t\r\n");
        var relaxed = await VerifySingle(Pad(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", header: DkimCanonicalizationAlgorithm.Relaxed)));
        var simple = await VerifySingle(Pad(SignText(Plain, DkimTestKeys.Rsa2048, "rsa", header: DkimCanonicalizationAlgorithm.Simple)));
        Assert.Equal(DkimResult.Pass, relaxed.Result);
        Assert.Equal((DkimResult.Fail, DkimProblem.SignatureMismatch), (simple.Result, simple.Problem));
    }

    [Fact]
    public async Task A_long_header_folded_differently_by_a_relay_passes_relaxed()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        const string longSubject = "Subject: Minutes of the meeting about the budget for the next quarter and the plans for the office move\r\n";
        var text = ReplaceOnce(Plain, "Subject: Lunch on Thursday\r\n", longSubject);
        var signed = SignText(text, DkimTestKeys.Rsa2048, "rsa");
        var serializedSubject = signed[signed.IndexOf("Subject:", StringComparison.Ordinal)..];
        serializedSubject = serializedSubject[..(serializedSubject.IndexOf("\r\nDate:", StringComparison.Ordinal) + 2)];
        var refolded = ReplaceOnce(signed, serializedSubject,
            "Subject: Minutes of the meeting\r\n about the budget for the next quarter\r\n\tand the plans for the office move\r\n");
        Assert.Equal(DkimResult.Pass, (await VerifySingle(refolded)).Result);
    }

    [Theory]
    [InlineData(DkimCanonicalizationAlgorithm.Simple)]
    [InlineData(DkimCanonicalizationAlgorithm.Relaxed)]
    public async Task An_empty_body_passes(DkimCanonicalizationAlgorithm body)
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        var empty = Plain[..(Plain.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)];
        var signed = SignText(empty, DkimTestKeys.Rsa2048, "rsa", body: body);
        Assert.Equal(DkimResult.Pass, (await VerifySingle(signed)).Result);
        Assert.Equal((DkimResult.Fail, DkimProblem.BodyHashMismatch), ((await VerifySingle(signed + "text\r\n")).Result, (await VerifySingle(signed + "text\r\n")).Problem));
    }

    [Fact]
    public async Task A_long_rsa_key_split_into_several_txt_strings_is_joined()
    {
        // A 2048-bit key record is ~400 octets: the stub splits it into 255-octet strings, as zone tools do.
        Assert.True(DkimTestKeys.Record(DkimTestKeys.Rsa2048).Length > 255);
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        Assert.Equal(DkimResult.Pass, (await VerifySingle(SignText(Plain, DkimTestKeys.Rsa2048, "rsa"))).Result);
    }

    [Fact]
    public async Task Cancellation_throws()
    {
        _dns.Publish("rsa", Domain, DkimTestKeys.Rsa2048);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Verifier().VerifyAsync(Parse(SignText(Plain, DkimTestKeys.Rsa2048, "rsa")), cts.Token));
    }

    [Theory]
    [InlineData("a\r\nb\r\n", false, 6)]
    [InlineData("a\r\nb\r\n\r\n\r\n", false, 6)]
    [InlineData("a\r\nb", false, 6)]
    [InlineData("", false, 2)]
    [InlineData("\r\n\r\n", false, 2)]
    [InlineData("", true, 0)]
    [InlineData("\r\n \r\n", true, 0)]
    [InlineData("a  \t b \r\n\r\nc\t\r\n \r\n", true, 10)]
    public void Canonical_body_length_follows_rfc_6376(string body, bool relaxed, long expected)
    {
        Assert.Equal(expected, DkimVerification.CanonicalBodyLength(System.Text.Encoding.ASCII.GetBytes(body), relaxed));
    }
}
