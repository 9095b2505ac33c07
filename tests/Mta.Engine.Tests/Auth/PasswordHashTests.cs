// PBKDF2-SHA256 hashes: round trip, wrong password, salt per hash, and refusal of tampered stored forms.
using Mta.Engine.Auth;

namespace Mta.Engine.Tests.Auth;

public sealed class PasswordHashTests
{
    // Few iterations keep the tests fast; the format and the code path are the same as at 600000.
    private const int Iterations = 1000;

    [Fact]
    public void A_hash_verifies_its_password_and_nothing_else()
    {
        var hash = PasswordHash.Create("correct horse", Iterations);
        Assert.True(hash.Verify("correct horse"));
        Assert.False(hash.Verify("correct horsf"));
        Assert.False(hash.Verify("Correct horse"));
        Assert.False(hash.Verify(""));
    }

    [Fact]
    public void The_stored_form_round_trips()
    {
        var text = PasswordHash.Create("pässword ✓", Iterations).ToString();
        Assert.Matches(@"^\$pbkdf2-sha256\$1000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$", text);
        Assert.True(PasswordHash.TryParse(text, out var parsed));
        Assert.Equal(Iterations, parsed.Iterations);
        Assert.True(parsed.Verify("pässword ✓"));
        Assert.Equal(text, parsed.ToString());
    }

    [Fact]
    public void Each_hash_has_its_own_salt()
    {
        Assert.NotEqual(PasswordHash.Create("same", Iterations).ToString(), PasswordHash.Create("same", Iterations).ToString());
    }

    [Fact]
    public void A_hash_derived_independently_verifies()
    {
        // The stored form is plain PBKDF2-HMAC-SHA256 over the UTF-8 password: other tools can produce it.
        var salt = "saltsaltsaltsalt"u8.ToArray();
        var derived = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2("pässword"u8, salt, 2, System.Security.Cryptography.HashAlgorithmName.SHA256, 32);
        Assert.True(PasswordHash.TryParse($"$pbkdf2-sha256$2${Convert.ToBase64String(salt)}${Convert.ToBase64String(derived)}", out var hash));
        Assert.True(hash.Verify("pässword"));
    }

    [Fact]
    public void A_tampered_hash_does_not_verify()
    {
        var text = PasswordHash.Create("secret", Iterations).ToString();
        var parts = text.Split('$');
        var derived = Convert.FromBase64String(parts[^1]);
        derived[0] ^= 1;
        parts[^1] = Convert.ToBase64String(derived);
        Assert.True(PasswordHash.TryParse(string.Join('$', parts), out var tampered));
        Assert.False(tampered.Verify("secret"));

        // A changed iteration count derives another key.
        Assert.True(PasswordHash.TryParse(text.Replace("$1000$", "$1001$"), out var recounted));
        Assert.False(recounted.Verify("secret"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("secret")]                                                     // plain text is never a hash
    [InlineData("$pbkdf2-sha1$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("$pbkdf2-sha256$0$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("$pbkdf2-sha256$-5$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("$pbkdf2-sha256$999999999$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")] // over the cap
    [InlineData("$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]   // short salt
    [InlineData("$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]     // short hash
    [InlineData("$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$x")]
    [InlineData("$pbkdf2-sha256$1000$!!!!AAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    public void Malformed_stored_forms_are_refused(string text) => Assert.False(PasswordHash.TryParse(text, out _));
}
