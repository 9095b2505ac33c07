// SASL PLAIN and LOGIN decoding (RFC 4616, RFC 4954), the cancel line, and malformed forms.
using System.Text;
using Mta.Protocol.Sasl;

namespace Mta.Protocol.Tests;

public sealed class SaslTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public void Plain_without_authzid_decodes()
    {
        Assert.True(SaslPlain.TryDecode(B64("\0alice\0s3cret"), out var z, out var user, out var password, out var error), error);
        Assert.Null(z);
        Assert.Equal("alice", user);
        Assert.Equal("s3cret", password);
        Assert.Null(error);
    }

    [Fact]
    public void Plain_with_authzid_decodes()
    {
        Assert.True(SaslPlain.TryDecode(B64("bob\0alice\0pw"), out var z, out var user, out var password, out _));
        Assert.Equal(("bob", "alice", "pw"), (z, user, password));
    }

    [Fact]
    public void Plain_keeps_utf8_and_spaces_in_the_password()
    {
        Assert.True(SaslPlain.TryDecode(B64("\0jörg\0pass wörd ✓"), out _, out var user, out var password, out _));
        Assert.Equal("jörg", user);
        Assert.Equal("pass wörd ✓", password);
    }

    [Fact]
    public void Plain_example_from_rfc_4616_decodes()
    {
        // RFC 4616 section 4: "\0tim\0tanstaaftanstaaf"
        Assert.True(SaslPlain.TryDecode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", out var z, out var user, out var password, out _));
        Assert.Equal((null, "tim", "tanstaaftanstaaf"), (z, user, password));
    }

    [Theory]
    [InlineData("alice\0secret", "Malformed PLAIN response")]          // one NUL
    [InlineData("alicesecret", "Malformed PLAIN response")]            // none
    [InlineData("\0\0secret", "Empty user name")]
    [InlineData("\0alice\0", "Empty password")]
    [InlineData("\0alice\0sec\0ret", "Password contains NUL")]         // a third NUL
    [InlineData("\0\0", "Empty user name")]
    public void Plain_malformed_messages_are_refused(string message, string expected)
    {
        Assert.False(SaslPlain.TryDecode(B64(message), out var z, out var user, out var password, out var error));
        Assert.Equal(expected, error);
        Assert.Null(z);
        Assert.Null(user);
        Assert.Null(password);
    }

    [Theory]
    [InlineData("")]
    [InlineData("=")]               // the empty response: no NUL at all
    [InlineData("!!!!")]
    [InlineData("AHRpbQB0YW5zdGFhZnRhbnN0YWF")]    // length not a multiple of 4
    [InlineData("AHRp bQB0YW5zdGFhZnRhbnN0YWFm")]  // white space, which Convert would skip
    [InlineData("AHRpbQB0YW5zdGFh\r\nZnRhbnN0YWFm")]
    [InlineData("AH=pbQB0YW5zdGFhZnRhbnN0YWFm")]   // padding in the middle
    [InlineData("AHRpbQB0YW5zdGFhZnRhbnN0YWFm====")]
    public void Plain_bad_base64_is_refused(string base64)
    {
        Assert.False(SaslPlain.TryDecode(base64, out _, out _, out _, out var error));
        Assert.NotNull(error);
        Assert.DoesNotContain("tim", error);
    }

    [Fact]
    public void Plain_invalid_utf8_is_refused()
    {
        var bytes = new byte[] { 0, (byte)'a', 0, 0xC3, 0x28 };
        Assert.False(SaslPlain.TryDecode(Convert.ToBase64String(bytes), out _, out _, out _, out var error));
        Assert.Equal("Password is not valid UTF-8", error);
    }

    [Fact]
    public void Plain_over_long_fields_and_responses_are_refused()
    {
        var longPassword = new string('p', Sasl.Sasl.MaxFieldOctets + 1);
        Assert.False(SaslPlain.TryDecode(B64("\0alice\0" + longPassword), out _, out _, out _, out var error));
        Assert.Equal("Password too long", error);

        var huge = new string('A', Sasl.Sasl.MaxResponseChars + 4);
        Assert.False(SaslPlain.TryDecode(huge, out _, out _, out _, out error));
        Assert.Equal("Response too long", error);

        // At the limit the field is still accepted.
        Assert.True(SaslPlain.TryDecode(B64("\0alice\0" + longPassword[1..]), out _, out _, out var password, out _));
        Assert.Equal(Sasl.Sasl.MaxFieldOctets, password!.Length);
    }

    [Fact]
    public void Login_challenges_are_username_and_password_in_base64()
    {
        Assert.Equal("Username:", Encoding.ASCII.GetString(Convert.FromBase64String(SaslLogin.UsernameChallenge)));
        Assert.Equal("Password:", Encoding.ASCII.GetString(Convert.FromBase64String(SaslLogin.PasswordChallenge)));
        Assert.Equal("334 VXNlcm5hbWU6\r\n", SaslLogin.UsernameReply.ToString());
        Assert.Equal("334 UGFzc3dvcmQ6\r\n", SaslLogin.PasswordReply.ToString());
    }

    [Fact]
    public void Login_lines_decode()
    {
        Assert.True(SaslLogin.TryDecodeUser(B64("alice@example.test"), out var user, out _));
        Assert.Equal("alice@example.test", user);
        Assert.True(SaslLogin.TryDecodePassword(B64("s3cret ✓"), out var password, out _));
        Assert.Equal("s3cret ✓", password);
    }

    [Theory]
    [InlineData("=", "Empty user name")]
    [InlineData("", "Invalid base64 data")]
    [InlineData("not base64!", "Invalid base64 data")]
    [InlineData("YWxp Y2U=", "Invalid base64 data")]
    [InlineData("AGFsaWNl", "User name contains NUL")]   // "\0alice": a PLAIN message sent to LOGIN
    public void Login_malformed_user_lines_are_refused(string line, string expected)
    {
        Assert.False(SaslLogin.TryDecodeUser(line, out var user, out var error));
        Assert.Null(user);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Login_empty_password_is_refused()
    {
        Assert.False(SaslLogin.TryDecodePassword("=", out var password, out var error));
        Assert.Null(password);
        Assert.Equal("Empty password", error);
    }

    [Theory]
    [InlineData("*", true)]
    [InlineData("* ", false)]
    [InlineData("**", false)]
    [InlineData("", false)]
    [InlineData("Kg==", false)]   // "*" in base64 is data, not a cancel
    public void Cancel_is_a_lone_star(string line, bool cancel) => Assert.Equal(cancel, Sasl.Sasl.IsCancel(line));

    [Fact]
    public void Replies_carry_the_rfc_4954_codes()
    {
        Assert.Equal("501 5.7.0 Authentication cancelled\r\n", SaslReplies.Cancelled.ToString());
        Assert.Equal("535 5.7.8 Authentication credentials invalid\r\n", SaslReplies.InvalidCredentials.ToString());
        Assert.Equal("235 2.7.0 Authentication successful\r\n", SaslReplies.Succeeded.ToString());
        Assert.Equal("454 4.7.0 Temporary authentication failure\r\n", SaslReplies.TemporaryFailure.ToString());
        Assert.StartsWith("421 4.7.0 ", SaslReplies.TooManyFailures.ToString());
        Assert.Equal("530 5.7.0 Authentication required\r\n", SaslReplies.Required.ToString());
        Assert.Equal("334 \r\n", Encoding.ASCII.GetString(SaslReplies.EmptyChallenge));
        Assert.Equal("501 5.5.2 Invalid base64 data\r\n", SaslReplies.Malformed("Invalid base64 data").ToString());
        Assert.True(Sasl.Sasl.IsSupported("PLAIN") && Sasl.Sasl.IsSupported("LOGIN") && !Sasl.Sasl.IsSupported("CRAM-MD5"));
    }
}
