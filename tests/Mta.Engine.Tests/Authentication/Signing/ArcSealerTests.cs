// ArcSealer: sets that MimeKit's ArcVerifier validates, i= and cv= along a chain, AAR content, and the refusals.
using System.Text;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class ArcSealerTests : IDisposable
{
    private readonly SigningFixture _fixture = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    private RecordKeyLocator _locator = new([]);

    public void Dispose() => _fixture.Dispose();

    private const string Message = """
        Authentication-Results: other.example; spf=pass smtp.mailfrom=forged.example
        Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.com;
         dkim=pass header.d=example.com header.s=sel
        From: Alice <alice@example.com>
        To: list@example.org
        Subject: Hello list
        Date: Thu, 03 Dec 2026 12:00:00 +0000
        Message-ID: <1@example.com>

        Hi all.

        """;

    private ArcSealer Create()
    {
        var store = _fixture.Store();
        _locator = new RecordKeyLocator(store.AllKeys("example.org").Concat(store.AllKeys("example.net")));
        return new ArcSealer(store, _fixture.Signing, _locator, _time);
    }

    private async Task<byte[]> Seal(ArcSealer sealer, string domain, byte[] message, string authServId = "mx.example.org")
    {
        var fields = await sealer.CreateArcSetFieldsAsync(domain, message, authServId, TestContext.Current.CancellationToken);
        return SignatureCheck.Prepend(fields, message);
    }

    private ArcValidationResult Verify(byte[] raw) =>
        new ArcVerifier(_locator).Verify(MimeMessage.Load(new MemoryStream(raw)));

    [Theory]
    [InlineData(DkimKeyAlgorithm.Rsa)]
    [InlineData(DkimKeyAlgorithm.Ed25519)]
    public async Task A_first_seal_verifies_with_cv_none_and_our_results(DkimKeyAlgorithm algorithm)
    {
        _fixture.AddKey("example.org", "arc", algorithm);
        var sealer = Create();
        var message = SignatureCheck.Crlf(Message);

        var fields = await sealer.CreateArcSetFieldsAsync("example.org", message, "mx.example.org", TestContext.Current.CancellationToken);

        Assert.Equal(3, fields.Count);
        Assert.StartsWith("ARC-Seal: i=1;", fields[0]);
        Assert.Contains("cv=none", fields[0]);
        Assert.StartsWith("ARC-Message-Signature: i=1;", fields[1]);
        Assert.StartsWith("ARC-Authentication-Results: i=1; mx.example.org;", fields[2]);
        var aar = fields[2].Replace("\r\n", "");
        Assert.Contains("spf=pass smtp.mailfrom=example.com", aar);
        Assert.Contains("dkim=pass header.d=example.com", aar);
        Assert.Contains("arc=none", aar);
        Assert.DoesNotContain("forged.example", aar);
        Assert.All(fields, f => Assert.EndsWith("\r\n", f));

        var sealedMessage = SignatureCheck.Prepend(fields, message);
        Assert.Equal(ArcSignatureValidationResult.Pass, Verify(sealedMessage).Chain);
    }

    [Fact]
    public async Task A_tampered_sealed_message_fails()
    {
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Rsa);
        var sealedMessage = Encoding.UTF8.GetString(await Seal(Create(), "example.org", SignatureCheck.Crlf(Message)));

        Assert.Equal(ArcSignatureValidationResult.Fail, Verify(Encoding.UTF8.GetBytes(sealedMessage.Replace("Hi all.", "Hi all!"))).Chain);
        Assert.Equal(ArcSignatureValidationResult.Fail, Verify(Encoding.UTF8.GetBytes(sealedMessage.Replace("cv=none", "cv=pass"))).Chain);
    }

    [Fact]
    public async Task A_second_seal_has_i_2_and_cv_pass()
    {
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Rsa);
        _fixture.AddKey("example.net", "relay", DkimKeyAlgorithm.Ed25519);
        var sealer = Create();
        var once = await Seal(sealer, "example.org", SignatureCheck.Crlf(Message));
        var relayed = Encoding.UTF8.GetBytes("Authentication-Results: mx.example.net; arc=pass\r\n" + Encoding.UTF8.GetString(once));

        var fields = await sealer.CreateArcSetFieldsAsync("example.net", relayed, "mx.example.net", TestContext.Current.CancellationToken);

        Assert.Equal(3, fields.Count);
        Assert.StartsWith("ARC-Seal: i=2;", fields[0]);
        Assert.Contains("cv=pass", fields[0]);
        Assert.Contains("d=example.net", fields[0]);
        Assert.StartsWith("ARC-Authentication-Results: i=2; mx.example.net; arc=pass", fields[2]);
        var twice = SignatureCheck.Prepend(fields, relayed);
        var result = Verify(twice);
        Assert.Equal(ArcSignatureValidationResult.Pass, result.Chain);
        Assert.Equal(2, result.Seals!.Length);
    }

    [Fact]
    public async Task A_broken_chain_is_sealed_with_cv_fail_and_then_no_more()
    {
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Ed25519);
        _fixture.AddKey("example.net", "relay", DkimKeyAlgorithm.Ed25519);
        var sealer = Create();
        var once = Encoding.UTF8.GetString(await Seal(sealer, "example.org", SignatureCheck.Crlf(Message)));
        // A later hop changes the body without sealing: the first set's signatures no longer hold.
        var changed = Encoding.UTF8.GetBytes(once.Replace("Hi all.", "Hi all, with a footer."));

        // Even when our own Authentication-Results claims arc=pass, the sealer's own validation decides cv=.
        var claimed = Encoding.UTF8.GetBytes("Authentication-Results: mx.example.net; arc=pass\r\n" + Encoding.UTF8.GetString(changed));
        var fields = await sealer.CreateArcSetFieldsAsync("example.net", claimed, "mx.example.net", TestContext.Current.CancellationToken);

        Assert.Equal(3, fields.Count);
        Assert.StartsWith("ARC-Seal: i=2;", fields[0]);
        Assert.Contains("cv=fail", fields[0]);
        Assert.Contains("arc=fail", fields[2]);
        var twice = SignatureCheck.Prepend(fields, claimed);
        Assert.Equal(ArcSignatureValidationResult.Fail, Verify(twice).Chain);

        Assert.Empty(await sealer.CreateArcSetFieldsAsync("example.org", twice, "mx.example.org", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task No_seal_beyond_instance_50()
    {
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Ed25519);
        var sealer = Create();
        var message = SignatureCheck.Crlf("ARC-Seal: i=50; a=ed25519-sha256; cv=pass; d=x.example; s=s; t=1; b=AAAA\r\n" + Message);

        Assert.Empty(await sealer.CreateArcSetFieldsAsync("example.org", message, "mx.example.org", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Without_our_results_the_AAR_says_none_and_without_a_key_nothing_is_sealed()
    {
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Rsa);
        _fixture.AddKey("example.org", "ed", DkimKeyAlgorithm.Ed25519);
        var sealer = Create();
        var message = SignatureCheck.Crlf("From: alice@example.org\r\nSubject: x\r\n\r\nbody\r\n");

        var fields = await sealer.CreateArcSetFieldsAsync("example.org", message, "mx.example.org", TestContext.Current.CancellationToken);

        Assert.Equal("ARC-Authentication-Results: i=1; mx.example.org; none\r\n", fields[2]);
        Assert.Contains("a=rsa-sha256", fields[0]);   // rsa preferred when the domain has both
        Assert.Equal(ArcSignatureValidationResult.Pass, Verify(SignatureCheck.Prepend(fields, message)).Chain);
        Assert.Empty(await sealer.CreateArcSetFieldsAsync("example.com", message, "mx.example.org", TestContext.Current.CancellationToken));
        Assert.False(sealer.CanSeal("example.com"));
    }

    [Fact]
    public async Task A_dkim_signature_and_an_arc_set_added_together_both_verify()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Rsa);
        var sealer = Create();
        var message = SignatureCheck.Crlf(Message);

        // The order the lead uses: our Authentication-Results is in the message, DKIM-Signature next, the ARC set on top.
        var signed = SignatureCheck.Prepend(new DkimMessageSigner(_fixture.Store(), _fixture.Signing, _time).CreateSignatureFields("example.org", message), message);
        var both = await Seal(sealer, "example.org", signed);

        Assert.StartsWith("ARC-Seal: ", Encoding.ASCII.GetString(both));
        Assert.Equal([true], SignatureCheck.MimeKitVerify(both, _locator));
        Assert.Equal(ArcSignatureValidationResult.Pass, Verify(both).Chain);
    }

    [Fact]
    public async Task Dkimpy_accepts_the_arc_chain()
    {
        var python = SignatureCheck.PythonWithDkim();
        if (python is null) Assert.Skip("python3-dkim is not installed");
        _fixture.AddKey("example.org", "arc", DkimKeyAlgorithm.Rsa);
        _fixture.AddKey("example.net", "relay", DkimKeyAlgorithm.Rsa);
        var sealer = Create();
        var once = await Seal(sealer, "example.org", SignatureCheck.Crlf(Message));
        var twice = await Seal(sealer, "example.net", Encoding.UTF8.GetBytes("Authentication-Results: mx.example.net; arc=pass\r\n" + Encoding.UTF8.GetString(once)), "mx.example.net");

        var verdict = SignatureCheck.DkimpyArcVerify(python, twice, _locator.Records);
        Assert.True(verdict.StartsWith("pass\n", StringComparison.Ordinal), verdict);
    }
}
