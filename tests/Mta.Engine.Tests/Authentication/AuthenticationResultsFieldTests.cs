// The Authentication-Results value the server writes, and the recognition of incoming fields that claim its name.
using System.Buffers;
using System.Text;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Mta.Engine.Authentication;

namespace Mta.Engine.Tests.Authentication;

public sealed class AuthenticationResultsFieldTests
{
    [Fact]
    public void Every_method_is_written_with_its_properties_and_parses_back_with_MimeKit()
    {
        var results = new MessageAuthentication("mx.example.org",
            new SpfCheck(SpfResult.Pass, "mail.sender.test", "mail.sender.test"),
            new SpfCheck(SpfResult.Fail, "alice@sender.test", "sender.test", "ip 192.0.2.9 not permitted (see: example)"),
            [new DkimCheck(DkimResult.Pass, "sender.test", "s1", "rsa-sha256", SignaturePrefix: "abcdefgh"),
             new DkimCheck(DkimResult.Fail, "other.test", "ed", "ed25519-sha256", DkimProblem.BodyHashMismatch, "body hash did not verify")],
            new DmarcCheck(DmarcResult.Pass, "sender.test", "sender.test", DmarcPolicy.Reject, DmarcPolicy.None, true, false),
            new ArcCheck(ArcResult.None, 0));

        var value = AuthenticationResultsField.Build(results, dkimChecked: true);

        Assert.StartsWith("mx.example.org;\r\n\tspf=pass smtp.helo=mail.sender.test;", value);
        Assert.Contains("spf=fail (ip 192.0.2.9 not permitted \\(see: example\\)) smtp.mailfrom=alice@sender.test", value);
        Assert.Contains("dkim=pass header.d=sender.test header.s=s1 header.a=rsa-sha256 header.b=abcdefgh", value);
        Assert.Contains("dkim=fail (body hash did not verify) header.d=other.test", value);
        Assert.Contains("dmarc=pass (p=reject dis=none) header.from=sender.test", value);
        Assert.EndsWith("arc=none", value);

        Assert.True(AuthenticationResults.TryParse(Encoding.ASCII.GetBytes(value), out var parsed));
        Assert.Equal("mx.example.org", parsed.AuthenticationServiceIdentifier);
        Assert.Equal(["spf", "spf", "dkim", "dkim", "dmarc", "arc"], parsed.Results.Select(r => r.Method).ToArray());
        Assert.Equal("fail", parsed.Results[1].Result);
    }

    [Fact]
    public void No_result_at_all_is_written_as_none_and_a_message_without_signatures_says_dkim_none()
    {
        var empty = new MessageAuthentication("mx.test", null, null, [], null, null);
        Assert.Equal("mx.test; none", AuthenticationResultsField.Build(empty, dkimChecked: false));
        Assert.Contains("dkim=none", AuthenticationResultsField.Build(empty, dkimChecked: true));
    }

    [Fact]
    public void Details_from_DNS_cannot_break_out_of_their_comment_or_the_field()
    {
        var hostile = new MessageAuthentication("mx.test", null,
            new SpfCheck(SpfResult.Fail, "a@b.test", "b.test", "evil) dkim=pass (\r\nX-Injected: yes"), [], null, null);
        var value = AuthenticationResultsField.Build(hostile, dkimChecked: false);
        Assert.DoesNotContain("\r\nX-Injected", value);
        Assert.Contains("evil\\) dkim=pass \\(", value);
        Assert.True(AuthenticationResults.TryParse(Encoding.ASCII.GetBytes(value), out var parsed));
        Assert.Single(parsed.Results);
    }

    [Theory]
    [InlineData("mx.test; spf=pass", true)]
    [InlineData("  MX.TEST ; dkim=pass", true)]
    [InlineData("(comment) mx.test; none", true)]
    [InlineData("\r\n\tmx.test;\r\n\tspf=pass", true)]
    [InlineData("mx.test.evil; spf=pass", false)]
    [InlineData("other.test; spf=pass smtp.mailfrom=mx.test", false)]
    [InlineData("", false)]
    public void An_incoming_field_claims_our_authserv_id_only_when_it_is_its_first_token(string value, bool claims) =>
        Assert.Equal(claims, AuthenticationResultsField.ClaimsAuthServId(value, "mx.test"));

    [Fact]
    public void Forged_fields_are_found_in_the_header_only_and_removed_whole_with_their_continuation_lines()
    {
        var message = string.Join("\r\n",
            "Received: from x",
            "Authentication-Results: mx.test;",
            "\tdkim=pass header.d=bank.test",
            "Authentication-Results: other.test; spf=pass",
            "X-Mta-Quarantine: none",
            "From: a@b.test",
            "",
            "Authentication-Results: mx.test; in the body stays",
            "");
        var bytes = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(message));

        var forged = ForgedFields.Find(bytes, "mx.test");
        Assert.Equal(2, forged.Count);
        var kept = Encoding.ASCII.GetString(ForgedFields.Remove(bytes, forged));
        Assert.Equal(string.Join("\r\n",
            "Received: from x",
            "Authentication-Results: other.test; spf=pass",
            "From: a@b.test",
            "",
            "Authentication-Results: mx.test; in the body stays",
            ""), kept);
    }
}
