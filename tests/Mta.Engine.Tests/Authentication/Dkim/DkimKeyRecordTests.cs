// DkimKeyRecord and DkimTagList: the key record syntax of RFC 6376 3.6.1 and RFC 8463, and the tag-list of 3.2.
using Mta.Engine.Authentication.Dkim;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Tests.Authentication.Dkim;

public sealed class DkimKeyRecordTests
{
    [Fact]
    public void An_rsa_record_parses_with_its_defaults()
    {
        Assert.True(DkimKeyRecord.TryParse(DkimTestKeys.Record(DkimTestKeys.Rsa2048), out var record, out var error), error);
        Assert.Equal("rsa", record!.KeyType);
        Assert.Null(record.HashAlgorithms);
        Assert.True(record.AllowsHash("sha256"));
        Assert.True(record.AllowsEmail);
        Assert.False(record.IsTesting);
        Assert.False(record.IsStrictIdentity);
        Assert.False(record.IsRevoked);
        Assert.True(record.TryGetPublicKey(out var key, out _));
        Assert.IsType<RsaKeyParameters>(key);
        Assert.Equal(2048, record.KeyBits);
    }

    [Fact]
    public void An_ed25519_record_decodes_the_raw_32_octets()
    {
        Assert.True(DkimKeyRecord.TryParse(DkimTestKeys.Record(DkimTestKeys.Ed25519), out var record, out _));
        Assert.True(record!.TryGetPublicKey(out var key, out _));
        Assert.Equal(((Ed25519PublicKeyParameters)DkimTestKeys.Ed25519.Public).GetEncoded(), ((Ed25519PublicKeyParameters)key!).GetEncoded());
    }

    [Fact]
    public void The_rfc_8463_example_key_parses()
    {
        Assert.True(DkimKeyRecord.TryParse("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", out var record, out _));
        Assert.True(record!.TryGetPublicKey(out _, out _));
    }

    [Fact]
    public void Whitespace_folded_into_p_is_ignored_and_tags_may_come_in_any_order_after_v()
    {
        var p = DkimTestKeys.PublicKeyBase64(DkimTestKeys.Rsa1024.Public);
        var folded = string.Join(" \r\n\t", p.Chunk(60).Select(c => new string(c)));
        Assert.True(DkimKeyRecord.TryParse($"v=DKIM1 ; t = y:s ; h=SHA1 : sha256; s=email:*; p= {folded} ;n=notes here;", out var record, out var error), error);
        Assert.True(record!.IsTesting);
        Assert.True(record.IsStrictIdentity);
        Assert.Equal(["sha1", "sha256"], record.HashAlgorithms!);
        Assert.True(record.AllowsHash("sha256"));
        Assert.Equal("notes here", record.Notes);
        Assert.Equal(1024, record.KeyBits);
    }

    [Fact]
    public void A_bare_pkcs1_rsa_key_is_accepted()
    {
        var spki = Org.BouncyCastle.X509.SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(DkimTestKeys.Rsa1024.Public);
        var pkcs1 = Convert.ToBase64String(spki.PublicKey.GetBytes());
        Assert.True(DkimKeyRecord.TryParse("p=" + pkcs1, out var record, out _));
        Assert.True(record!.TryGetPublicKey(out _, out _));
        Assert.Equal(1024, record.KeyBits);
    }

    [Theory]
    [InlineData("v=DKIM1; p=")]
    [InlineData("p=")]
    [InlineData("v=DKIM1; k=rsa; p= ; n=revoked")]
    public void An_empty_p_is_revoked(string text)
    {
        Assert.True(DkimKeyRecord.TryParse(text, out var record, out _));
        Assert.True(record!.IsRevoked);
        Assert.False(record.TryGetPublicKey(out _, out var error));
        Assert.Contains("revoked", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("k=dsa; p=AAAA", "unknown key type")]
    [InlineData("k=ed25519; p=AAAA", "32 octets")]
    [InlineData("k=ed25519; p=11qYAYKxCr8VS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "not a valid ed25519 public key")] // not a curve point (found by fuzzing)
    [InlineData("p=AAAA", "not a valid RSA public key")]
    [InlineData("p=MAA=", "not")]
    public void A_record_that_parses_may_still_have_no_usable_key(string text, string error)
    {
        Assert.True(DkimKeyRecord.TryParse(text, out var record, out _));
        Assert.False(record!.TryGetPublicKey(out var key, out var why));
        Assert.Null(key);
        Assert.Contains(error, why, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "no p= tag")]
    [InlineData("v=DKIM1; k=rsa", "no p= tag")]
    [InlineData("v=DKIM2; p=AAAA", "unknown version")]
    [InlineData("k=rsa; v=DKIM1; p=AAAA", "not the first tag")]
    [InlineData("v=DKIM1; p=AAAA; p=AAAA", "duplicate")]
    [InlineData("v=DKIM1; p=A!AA", "not base64")]
    [InlineData("v=DKIM1; p=AAA", "not base64")]
    [InlineData("v=DKIM1; =AAAA", "invalid tag name")]
    [InlineData("v=DKIM1; 9k=rsa; p=AAAA", "invalid tag name")]
    [InlineData("v=DKIM1; k rsa; p=AAAA", "without '='")]
    [InlineData("v=DKIM1; n=\u0001; p=AAAA", "invalid character")]
    [InlineData("v=spf1 include:_spf.example.com -all", "unknown version")]
    public void Malformed_records_are_refused_with_a_reason(string text, string error)
    {
        Assert.False(DkimKeyRecord.TryParse(text, out var record, out var why));
        Assert.Null(record);
        Assert.Contains(error, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Tag_names_are_case_sensitive_so_P_is_not_p()
    {
        Assert.False(DkimKeyRecord.TryParse("v=DKIM1; P=AAAA", out _, out var error));
        Assert.Equal("no p= tag", error);
    }

    [Fact]
    public void The_tag_list_keeps_order_and_inner_whitespace()
    {
        Assert.True(DkimTagList.TryParse(" a = 1 ; b=x  y\r\n z;c=;", out var tags, out _));
        Assert.Equal([new("a", "1"), new("b", "x  y\r\n z"), new("c", "")], tags!);
    }
}
