// EHLO reply parsing on the client side, from replies real servers (Postfix, Exim, Gmail, Exchange) send.
using System.Buffers;
using System.Text;
using Mta.Protocol.Client;

namespace Mta.Protocol.Tests.Client;

public sealed class EhloCapabilitiesTests
{
    private const string Postfix =
        "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
        "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n" +
        "250-SMTPUTF8\r\n250 CHUNKING\r\n";

    private const string Exim =
        "250-mx.example.net Hello client.example.org [192.0.2.7]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n" +
        "250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-AUTH CRAM-MD5 PLAIN\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n";

    private const string Gmail =
        "250-mx.google.com at your service, [192.0.2.7]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";

    private const string Exchange =
        "250-EX01.corp.example Hello [192.0.2.7]\r\n250-SIZE\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n" +
        "250-STARTTLS\r\n250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n250-X-EXPS GSSAPI NTLM\r\n250-8BITMIME\r\n" +
        "250-BINARYMIME\r\n250-CHUNKING\r\n250 XRDST\r\n";

    private static EhloCapabilities ParseWire(string wire)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
        Assert.True(SmtpReply.TryParse(ref buffer, out var reply, out var malformed));
        Assert.False(malformed);
        Assert.True(buffer.IsEmpty);
        return EhloCapabilities.Parse(reply!);
    }

    [Fact]
    public void Postfix_reply()
    {
        var caps = ParseWire(Postfix);
        Assert.True(caps.IsExtended);
        Assert.Equal("mail.example.com", caps.ServerName);
        Assert.True(caps.Pipelining);
        Assert.True(caps.SizeOffered);
        Assert.Equal(10240000, caps.Size);
        Assert.True(caps.StartTls);
        Assert.True(caps.EnhancedStatusCodes);
        Assert.True(caps.EightBitMime);
        Assert.True(caps.Dsn);
        Assert.True(caps.SmtpUtf8);
        Assert.True(caps.Chunking);
        // Postfix offers CHUNKING but not BINARYMIME.
        Assert.False(caps.BinaryMime);
        Assert.Equal(["LOGIN", "PLAIN"], caps.AuthMechanisms.Order());
        Assert.True(caps.Supports("vrfy"));
        Assert.Equal("PLAIN LOGIN", caps.Keywords["AUTH"]);
    }

    [Fact]
    public void Exim_reply()
    {
        var caps = ParseWire(Exim);
        Assert.Equal("mx.example.net", caps.ServerName);
        Assert.Equal(52428800, caps.Size);
        Assert.True(caps.Pipelining);
        Assert.False(caps.Dsn);
        Assert.False(caps.SmtpUtf8);
        Assert.False(caps.EnhancedStatusCodes);
        Assert.Equal(["CRAM-MD5", "PLAIN"], caps.AuthMechanisms.Order());
        Assert.True(caps.Supports("PRDR"));
        Assert.True(caps.Supports("PIPE_CONNECT"));
    }

    [Fact]
    public void Gmail_reply()
    {
        var caps = ParseWire(Gmail);
        Assert.Equal("mx.google.com", caps.ServerName);
        Assert.Equal(157286400, caps.Size);
        Assert.True(caps.SmtpUtf8);
        Assert.True(caps.Chunking);
        Assert.False(caps.Dsn);
        Assert.Empty(caps.AuthMechanisms);
    }

    [Fact]
    public void Exchange_reply_with_size_without_a_number()
    {
        var caps = ParseWire(Exchange);
        Assert.True(caps.SizeOffered);
        Assert.Null(caps.Size);
        Assert.Equal(["NTLM"], caps.AuthMechanisms);
        Assert.Equal("GSSAPI NTLM", caps.Keywords["X-EXPS"]);
        Assert.True(caps.Supports("BINARYMIME"));
        Assert.True(caps.BinaryMime);
        Assert.True(caps.Chunking);
    }

    [Theory]
    [InlineData("SIZE", true, null)]
    [InlineData("SIZE 0", true, null)]
    [InlineData("SIZE 1000", true, 1000L)]
    [InlineData("size 2048", true, 2048L)]
    [InlineData("SIZE junk", true, null)]
    [InlineData("SIZE 99999999999999999999999", true, null)]
    [InlineData("SIZE -5", true, null)]
    [InlineData("8BITMIME", false, null)]
    public void Size_limit(string line, bool offered, long? limit)
    {
        var caps = EhloCapabilities.Parse(["host", line]);
        Assert.Equal(offered, caps.SizeOffered);
        Assert.Equal(limit, caps.Size);
    }

    [Theory]
    [InlineData("pipelining")]
    [InlineData("Pipelining")]
    [InlineData("PIPELINING")]
    public void Keywords_ignore_case(string keyword)
    {
        var caps = EhloCapabilities.Parse(["host", keyword]);
        Assert.True(caps.Pipelining);
        Assert.True(caps.Keywords.ContainsKey("PIPELINING"));
        Assert.True(caps.Supports("pipelining"));
    }

    [Theory]
    [InlineData(new[] { "AUTH=PLAIN LOGIN" }, new[] { "LOGIN", "PLAIN" })]
    [InlineData(new[] { "AUTH=LOGIN" }, new[] { "LOGIN" })]
    [InlineData(new[] { "auth plain" }, new[] { "PLAIN" })]
    [InlineData(new[] { "AUTH LOGIN", "AUTH=PLAIN" }, new[] { "LOGIN", "PLAIN" })]
    [InlineData(new[] { "AUTH" }, new string[0])]
    public void Auth_mechanisms_in_both_forms(string[] lines, string[] expected)
    {
        var caps = EhloCapabilities.Parse(["host", .. lines]);
        Assert.Equal(expected, caps.AuthMechanisms.Order());
    }

    [Fact]
    public void Greeting_line_only_means_no_extensions_but_extended()
    {
        var caps = ParseWire("250 mx.example.org\r\n");
        Assert.True(caps.IsExtended);
        Assert.Equal("mx.example.org", caps.ServerName);
        Assert.Empty(caps.Keywords);
        Assert.False(caps.Pipelining);
    }

    [Fact]
    public void None_offers_nothing()
    {
        var none = EhloCapabilities.None;
        Assert.False(none.IsExtended);
        Assert.False(none.Pipelining || none.SizeOffered || none.EightBitMime || none.SmtpUtf8 || none.StartTls
            || none.Dsn || none.EnhancedStatusCodes || none.Chunking || none.BinaryMime);
        Assert.Null(none.Size);
        Assert.Empty(none.AuthMechanisms);
        Assert.Empty(none.Keywords);
    }

    [Fact]
    public void Blank_lines_and_extra_spaces_are_tolerated()
    {
        var caps = EhloCapabilities.Parse(["host", "", "  SIZE   500  ", "DSN "]);
        Assert.Equal(500, caps.Size);
        Assert.True(caps.Dsn);
    }

    [Fact]
    public void A_negative_reply_is_refused()
    {
        Assert.Throws<ArgumentException>(() => EhloCapabilities.Parse(new SmtpReply(502, "5.5.2", "not implemented")));
    }
}
