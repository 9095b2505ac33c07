// DkimMessageSigner: signatures over raw bytes that MimeKit's verifier and dkimpy accept, over-signing, canonicalization
// edge cases, both algorithms, rotation, t= and x=.
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class DkimMessageSignerTests : IDisposable
{
    private readonly SigningFixture _fixture = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _fixture.Dispose();

    private const string Simple = """
        From: Alice <alice@example.org>
        To: bob@example.net
        Subject: Hello
        Date: Thu, 03 Dec 2026 12:00:00 +0000
        Message-ID: <1@example.org>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8

        Hi Bob.

        """;

    private (DkimMessageSigner Signer, DkimKeyStore Store) Create(string canonicalization = "relaxed/relaxed")
    {
        _fixture.Signing.Canonicalization = canonicalization;
        var store = _fixture.Store();
        return (new DkimMessageSigner(store, _fixture.Signing, _time), store);
    }

    private static byte[] Sign(DkimMessageSigner signer, string domain, byte[] message) =>
        SignatureCheck.Prepend(signer.CreateSignatureFields(domain, message), message);

    [Theory]
    [InlineData(DkimKeyAlgorithm.Rsa, "rsa-sha256")]
    [InlineData(DkimKeyAlgorithm.Ed25519, "ed25519-sha256")]
    public void A_signature_verifies_with_MimeKit(DkimKeyAlgorithm algorithm, string name)
    {
        _fixture.AddKey("example.org", "s1", algorithm);
        var (signer, store) = Create();
        var message = SignatureCheck.Crlf(Simple);

        var fields = signer.CreateSignatureFields("Example.ORG.", message);

        var field = Assert.Single(fields);
        Assert.StartsWith("DKIM-Signature: v=1; a=" + name + "; d=example.org; s=s1; c=relaxed/relaxed;", field);
        Assert.EndsWith("\r\n", field);
        Assert.DoesNotContain("\n", field.Replace("\r\n", ""));
        Assert.All(field.Split("\r\n")[1..^1], line => Assert.True(line.StartsWith(' ') || line.StartsWith('\t'), line));
        Assert.Contains($"t={_time.GetUtcNow().ToUnixTimeSeconds()};", field);
        Assert.DoesNotContain("x=", field);
        Assert.Equal([true], SignatureCheck.MimeKitVerify(SignatureCheck.Prepend(fields, message), new RecordKeyLocator(store.AllKeys("example.org"))));
    }

    [Fact]
    public void Over_signed_fields_are_listed_once_more_than_they_occur()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Ed25519);
        var (signer, _) = Create();
        var message = SignatureCheck.Crlf("""
            From: alice@example.org
            To: a@example.net
            To: b@example.net
            Subject: x
            Resent-From: carol@example.org
            Received: from somewhere

            body

            """);

        var field = Assert.Single(signer.CreateSignatureFields("example.org", message));
        var h = System.Text.RegularExpressions.Regex.Match(field.Replace("\r\n", "").Replace(" ", "").Replace("\t", ""), "h=([^;]*);").Groups[1].Value.Split(':');
        Assert.Equal(2, h.Count(n => n == "from"));
        Assert.Equal(3, h.Count(n => n == "to"));
        Assert.Equal(2, h.Count(n => n == "subject"));
        Assert.Equal(1, h.Count(n => n == "reply-to"));   // absent: its absence is signed
        Assert.Equal(1, h.Count(n => n == "list-id"));
        Assert.Equal(1, h.Count(n => n == "resent-from")); // present, not over-signed
        Assert.DoesNotContain("resent-to", h);             // absent, not over-signed
        Assert.DoesNotContain("received", h);
    }

    [Theory]
    [InlineData("From: Mallory <mallory@example.com>\r\n")]
    [InlineData("Subject: Urgent: wire money\r\n")]
    [InlineData("Reply-To: mallory@example.com\r\n")]
    [InlineData("To: mallory@example.com\r\n")]
    public void An_added_over_signed_field_breaks_the_signature(string added)
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Rsa);
        var (signer, store) = Create();
        var message = SignatureCheck.Crlf(Simple);
        var signed = Sign(signer, "example.org", message);
        var locator = new RecordKeyLocator(store.AllKeys("example.org"));
        Assert.Equal([true], SignatureCheck.MimeKitVerify(signed, locator));

        // The added field goes right after the signature: above the original, where a reader would see it first.
        var text = Encoding.UTF8.GetString(signed);
        var at = text.IndexOf("\r\nFrom: Alice", StringComparison.Ordinal) + 2;
        var tampered = Encoding.UTF8.GetBytes(text.Insert(at, added));
        Assert.Equal([false], SignatureCheck.MimeKitVerify(tampered, locator));
        // And at the bottom of the header section.
        at = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 2;
        tampered = Encoding.UTF8.GetBytes(text.Insert(at, added));
        Assert.Equal([false], SignatureCheck.MimeKitVerify(tampered, locator));
    }

    [Fact]
    public void An_unsigned_field_may_be_added()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Rsa);
        var (signer, store) = Create();
        var signed = Encoding.UTF8.GetString(Sign(signer, "example.org", SignatureCheck.Crlf(Simple)));
        var relayed = Encoding.UTF8.GetBytes("Received: from relay by mx; Thu, 3 Dec 2026 12:00:01 +0000\r\nX-Spam: no\r\n" + signed);
        Assert.Equal([true], SignatureCheck.MimeKitVerify(relayed, new RecordKeyLocator(store.AllKeys("example.org"))));
    }

    [Fact]
    public void A_changed_body_breaks_the_signature()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Rsa);
        var (signer, store) = Create();
        var signed = Encoding.UTF8.GetString(Sign(signer, "example.org", SignatureCheck.Crlf(Simple)));
        var tampered = Encoding.UTF8.GetBytes(signed.Replace("Hi Bob.", "Hi Bob!"));
        Assert.Equal([false], SignatureCheck.MimeKitVerify(tampered, new RecordKeyLocator(store.AllKeys("example.org"))));
    }

    [Fact]
    public void Rsa_and_ed25519_selectors_both_sign()
    {
        _fixture.AddKey("example.org", "rsa1", DkimKeyAlgorithm.Rsa);
        _fixture.AddKey("example.org", "ed1", DkimKeyAlgorithm.Ed25519);
        var (signer, store) = Create();
        var message = SignatureCheck.Crlf(Simple);

        var fields = signer.CreateSignatureFields("example.org", message);

        Assert.Equal(2, fields.Count);
        Assert.Contains("a=rsa-sha256", fields[0]);
        Assert.Contains("a=ed25519-sha256", fields[1]);
        Assert.Equal([true, true], SignatureCheck.MimeKitVerify(SignatureCheck.Prepend(fields, message), new RecordKeyLocator(store.AllKeys("example.org"))));
    }

    [Fact]
    public void During_a_rotation_only_the_signing_selector_signs()
    {
        _fixture.AddKey("example.org", "old", DkimKeyAlgorithm.Rsa, sign: false);
        _fixture.AddKey("example.org", "new", DkimKeyAlgorithm.Rsa);
        var (signer, store) = Create();

        var field = Assert.Single(signer.CreateSignatureFields("example.org", SignatureCheck.Crlf(Simple)));

        Assert.Contains("s=new;", field);
        Assert.Equal(2, store.AllKeys("example.org").Count());
        Assert.Equal("new", Assert.Single(store.SigningKeysFor("example.org")).Selector);
    }

    [Fact]
    public void Nothing_is_signed_for_a_domain_without_a_key_or_when_disabled()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Ed25519);
        var (signer, _) = Create();
        Assert.Empty(signer.CreateSignatureFields("example.com", SignatureCheck.Crlf(Simple)));
        Assert.False(signer.CanSign("example.com"));
        Assert.True(signer.CanSign("EXAMPLE.org."));

        _fixture.Signing.Enabled = false;
        Assert.Empty(signer.CreateSignatureFields("example.org", SignatureCheck.Crlf(Simple)));
        Assert.False(signer.CanSign("example.org"));
    }

    [Fact]
    public void An_unparsable_header_section_is_not_signed()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Ed25519);
        var (signer, _) = Create();
        Assert.Empty(signer.CreateSignatureFields("example.org", SignatureCheck.Crlf("this is not a header\r\n\r\nbody\r\n")));
        Assert.Empty(signer.CreateSignatureFields("example.org", SignatureCheck.Crlf("\r\nbody only\r\n")));
    }

    [Fact]
    public void Expiration_sets_x_from_the_clock()
    {
        _fixture.AddKey("example.org", "s1", DkimKeyAlgorithm.Ed25519);
        _fixture.Signing.Expiration = TimeSpan.FromDays(7);
        var (signer, store) = Create();
        var message = SignatureCheck.Crlf(Simple);

        var field = Assert.Single(signer.CreateSignatureFields("example.org", message)).Replace("\r\n", "").Replace(" ", "").Replace("\t", "");

        var t = _time.GetUtcNow().ToUnixTimeSeconds();
        Assert.Contains($";t={t};", field);
        Assert.Contains($";x={t + 7 * 86400};", field);
    }

    // The last flag: whether MimeKit's own verifier can check a simple body. It re-serializes the MIME tree it parsed,
    // which drops trailing blanks after a boundary; the signer hashes the original bytes, which dkimpy confirms.
    public static TheoryData<string, string, bool> EdgeCases => new()
    {
        { "folded headers", "From: Alice\r\n <alice@example.org>\r\nTo: bob@example.net,\r\n\tcarol@example.net\r\nSubject: a long\r\n   subject  with   spaces \r\n\r\nbody\r\n", true },
        { "8-bit body", "From: alice@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, Ünïcödé ✓ 日本語\r\n", true },
        { "trailing whitespace", "From: alice@example.org \r\nSubject: trailing \t \r\n\r\nline with spaces   \r\nline with tab\t\r\n  \r\n\r\n\r\n", true },
        { "no final CRLF", "From: alice@example.org\r\nSubject: x\r\n\r\nlast line without CRLF", true },
        { "empty body", "From: alice@example.org\r\nSubject: x\r\n\r\n", true },
        { "no body separator", "From: alice@example.org\r\nSubject: x\r\n", true },
        { "only empty lines in the body", "From: alice@example.org\r\n\r\n\r\n\r\n", true },
        { "header without space after colon", "From:alice@example.org\r\nSubject:x\r\nTo:bob@example.net\r\n\r\nbody\r\n", true },
        { "multipart with odd boundaries", "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1  \r\nContent-Type: text/plain\r\n\r\npart one\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n", false },
        { "nested message", "From: alice@example.org\r\nContent-Type: message/rfc822\r\n\r\nFrom:   inner@example.com\r\nSubject:  inner\r\n\r\ninner body\r\n", true },
        { "duplicate content fields", "From: alice@example.org\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 7bit\r\n\r\nx\r\n", true },
        { "malformed content fields", "From: alice@example.org\r\nContent-Type: ;;; =\"\r\nContent-Transfer-Encoding: bogus\r\nContent-Disposition: =\r\n\r\nx\r\n", true },
        { "8-bit and malformed header values", "From: \"Jörg\" <jörg@example.org>\r\nSubject: \u00ff\u0001 ctl\r\nTo: <<<>>>\r\n\r\nx\r\n", true },
        { "dot lines and long lines", "From: alice@example.org\r\n\r\n.\r\n..\r\n" + new string('x', 990) + "\r\n", true },
    };

    [Theory]
    [MemberData(nameof(EdgeCases))]
    public void Canonicalization_edge_cases_verify_on_the_raw_bytes(string name, string text, bool mimeKitParsesExactly)
    {
        _fixture.AddKey("example.org", "rsa1", DkimKeyAlgorithm.Rsa);
        _fixture.AddKey("example.org", "ed1", DkimKeyAlgorithm.Ed25519);
        var python = SignatureCheck.PythonWithDkim();
        var signedMessages = new List<byte[]>();
        string[] canonicalizations = ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"];
        DkimKeyStore? store = null;
        foreach (var canonicalization in canonicalizations)
        {
            (var signer, store) = Create(canonicalization);
            var signed = Sign(signer, "example.org", Encoding.UTF8.GetBytes(text));
            signedMessages.Add(signed);
            if (mimeKitParsesExactly || canonicalization.EndsWith("/relaxed"))
                Assert.True(SignatureCheck.MimeKitVerify(signed, new RecordKeyLocator(store.AllKeys("example.org"))).SequenceEqual([true, true]), $"{name}, {canonicalization}:\n{Encoding.UTF8.GetString(signed)}");
        }
        if (python is null) return;   // dkimpy's own test below reports the skip
        var verdicts = SignatureCheck.DkimpyVerify(python, signedMessages, store!.AllKeys("example.org"));
        for (var i = 0; i < canonicalizations.Length; i++)
            Assert.True(verdicts[i].SequenceEqual(["pass", "pass"]), $"dkimpy: {name}, {canonicalizations[i]}:\n{Encoding.UTF8.GetString(signedMessages[i])}");
    }

    [Theory]
    [InlineData(DkimKeyAlgorithm.Rsa)]
    [InlineData(DkimKeyAlgorithm.Ed25519)]
    public void Dkimpy_accepts_the_signature(DkimKeyAlgorithm algorithm)
    {
        var python = SignatureCheck.PythonWithDkim();
        if (python is null) Assert.Skip("python3-dkim is not installed");
        _fixture.AddKey("example.org", "s1", algorithm);
        var (signer, store) = Create();
        var signed = Sign(signer, "example.org", SignatureCheck.Crlf(Simple));

        Assert.Equal(["pass"], SignatureCheck.DkimpyVerify(python, signed, store.AllKeys("example.org")));
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(signed).Replace("Subject: Hello", "Subject: Hellö"));
        Assert.Equal(["fail"], SignatureCheck.DkimpyVerify(python, tampered, store.AllKeys("example.org")));
    }
}
