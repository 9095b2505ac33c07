// The platform-RSA header check agrees with MimeKit's: passes what MimeKit's signer and dkimpy-style signers make,
// in both canonicalizations and with folded fields, and fails a changed signed field.
using MimeKit;
using MimeKit.Cryptography;
using Mta.Engine.Authentication.Dkim;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Tests.Authentication.Dkim;

public sealed class PlatformRsaHeaderVerifierTests
{
    private static (MimeMessage Message, Header Signature, DkimSignatureFields Fields) Signed(string text, DkimCanonicalizationAlgorithm canonicalization)
    {
        var message = DkimMessages.Parse(text);
        var signer = new DkimSigner(DkimTestKeys.Rsa2048.Private, "example.org", "s1")
        {
            HeaderCanonicalizationAlgorithm = canonicalization,
            BodyCanonicalizationAlgorithm = canonicalization,
        };
        signer.Sign(message, DkimMessages.SignedFields);
        // Over the wire and back, as a receiver sees it.
        var received = DkimMessages.Parse(DkimMessages.Serialize(message));
        var header = received.Headers[received.Headers.IndexOf(HeaderId.DkimSignature)];
        return (received, header, DkimSignatureFields.Parse(System.Text.Encoding.UTF8.GetString(header.RawValue)));
    }

    private static bool Verifies(MimeMessage message, Header signature, DkimSignatureFields fields) =>
        PlatformRsaHeaderVerifier.Verifies(message, signature, fields.SignedHeaders, fields.HeaderCanonicalization, fields.Signature,
            (RsaKeyParameters)DkimTestKeys.Rsa2048.Public);

    [Theory]
    [InlineData(DkimCanonicalizationAlgorithm.Relaxed)]
    [InlineData(DkimCanonicalizationAlgorithm.Simple)]
    public void A_MimeKit_signature_passes_and_a_changed_signed_field_does_not(DkimCanonicalizationAlgorithm canonicalization)
    {
        var folded = DkimMessages.Plain.Replace("Subject: Lunch on Thursday", "Subject:  Lunch on\r\n\t Thursday \t");
        var (message, signature, fields) = Signed(folded, canonicalization);
        Assert.True(Verifies(message, signature, fields));

        var changed = DkimMessages.Parse(DkimMessages.ReplaceOnce(DkimMessages.Serialize(message), "Lunch on", "Dinner on"));
        var changedSignature = changed.Headers[changed.Headers.IndexOf(HeaderId.DkimSignature)];
        Assert.False(Verifies(changed, changedSignature, fields));
    }

    [Fact]
    public void Relaxed_survives_refolding_and_whitespace_changes_by_a_relay()
    {
        var (message, _, fields) = Signed(DkimMessages.Plain, DkimCanonicalizationAlgorithm.Relaxed);
        var refolded = DkimMessages.Serialize(message).Replace("Subject: Lunch on Thursday", "Subject:   Lunch\r\n  on  Thursday   ");
        var relayed = DkimMessages.Parse(refolded);
        var signature = relayed.Headers[relayed.Headers.IndexOf(HeaderId.DkimSignature)];
        Assert.True(Verifies(relayed, signature, fields));
    }

    [Fact]
    public void A_signature_by_the_RFC_only_signer_passes()
    {
        var signed = ManualDkimSigner.Sign(DkimMessages.Plain, DkimTestKeys.Rsa2048.Private, "example.org", "s1", DkimMessages.SignedFields);
        var message = DkimMessages.Parse(signed);
        var header = message.Headers[message.Headers.IndexOf(HeaderId.DkimSignature)];
        Assert.True(Verifies(message, header, DkimSignatureFields.Parse(System.Text.Encoding.UTF8.GetString(header.RawValue))));
    }

    [Theory]
    [InlineData(" v=1; a=rsa-sha256; b=AAAA\r\n\tBBBB; bh=xyz=", " v=1; a=rsa-sha256; b=; bh=xyz=")]
    [InlineData(" v=1; bh=xyz=; b=AAAA\r\n\tBBBB", " v=1; bh=xyz=; b=")]
    [InlineData(" b = AAAA ; bh=x", " b =; bh=x")]
    public void Only_the_b_value_is_removed(string value, string expected) =>
        Assert.Equal(expected, PlatformRsaHeaderVerifier.WithoutSignatureValue(value));
}
