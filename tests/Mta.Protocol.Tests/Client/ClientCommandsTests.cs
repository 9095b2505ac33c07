// Client command formatting: MAIL/RCPT parameters only when offered, xtext for ENVID and ORCPT, SASL responses.
using System.Text;
using Mta.Abstractions;
using Mta.Protocol.Client;
using Mta.Protocol.Sasl;

namespace Mta.Protocol.Tests.Client;

public sealed class ClientCommandsTests
{
    private static readonly EhloCapabilities Everything = EhloCapabilities.Parse(
        ["mx.example.org", "PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "BINARYMIME"]);

    private static readonly EhloCapabilities Bare = EhloCapabilities.Parse(["mx.example.org"]);

    private static readonly SmtpAddress Alice = new("alice", "example.org");

    [Fact]
    public void Ehlo_and_helo()
    {
        Assert.Equal("EHLO client.example.org\r\n", ClientCommands.Ehlo("client.example.org"));
        Assert.Equal("HELO client.example.org\r\n", ClientCommands.Helo("client.example.org"));
        Assert.Equal("EHLO [192.0.2.1]\r\n", ClientCommands.Ehlo("[192.0.2.1]"));
    }

    [Theory]
    [InlineData("bad\r\nRCPT TO:<x@y>")]
    [InlineData("two words")]
    [InlineData("")]
    public void Helo_name_cannot_inject(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => ClientCommands.Ehlo(name));
    }

    [Fact]
    public void Mail_with_every_parameter_when_everything_is_offered()
    {
        var line = ClientCommands.MailFrom(Alice, Everything, size: 12345, body: BodyType.EightBitMime, smtpUtf8: true,
            ret: DsnReturn.Headers, envelopeId: "id+1=2 x");
        Assert.Equal("MAIL FROM:<alice@example.org> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3D2+20x\r\n", line);
    }

    [Fact]
    public void Mail_without_extensions_is_bare()
    {
        var line = ClientCommands.MailFrom(Alice, Bare, size: 12345, body: BodyType.EightBitMime, smtpUtf8: true,
            ret: DsnReturn.Full, envelopeId: "abc");
        Assert.Equal("MAIL FROM:<alice@example.org>\r\n", line);
        Assert.Equal("MAIL FROM:<alice@example.org>\r\n", ClientCommands.MailFrom(Alice, EhloCapabilities.None, 5));
    }

    [Theory]
    [InlineData(0, true, "BDAT 0 LAST\r\n")]
    [InlineData(262144, false, "BDAT 262144\r\n")]
    [InlineData(86, true, "BDAT 86 LAST\r\n")]
    [InlineData(10_000_000_000, false, "BDAT 10000000000\r\n")]
    public void Bdat_chunk_size_and_last(long size, bool last, string expected)
    {
        Assert.Equal(expected, ClientCommands.Bdat(size, last));
    }

    [Fact]
    public void Bdat_refuses_a_negative_size()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ClientCommands.Bdat(-1, true));
    }

    [Fact]
    public void Binarymime_body_only_when_binarymime_is_offered()
    {
        var chunkingOnly = EhloCapabilities.Parse(["mx.example.org", "CHUNKING", "8BITMIME"]);
        Assert.Equal("MAIL FROM:<alice@example.org>\r\n", ClientCommands.MailFrom(Alice, chunkingOnly, body: BodyType.BinaryMime));
    }

    [Fact]
    public void Mail_null_reverse_path()
    {
        Assert.Equal("MAIL FROM:<> SIZE=0\r\n", ClientCommands.MailFrom(SmtpAddress.Null, Everything, size: 0));
    }

    [Theory]
    [InlineData(BodyType.Unspecified, "")]
    [InlineData(BodyType.SevenBit, " BODY=7BIT")]
    [InlineData(BodyType.EightBitMime, " BODY=8BITMIME")]
    [InlineData(BodyType.BinaryMime, " BODY=BINARYMIME")]
    public void Mail_body(BodyType body, string expected)
    {
        Assert.Equal("MAIL FROM:<alice@example.org>" + expected + "\r\n", ClientCommands.MailFrom(Alice, Everything, body: body));
    }

    [Theory]
    [InlineData(DsnReturn.Unspecified, "")]
    [InlineData(DsnReturn.Full, " RET=FULL")]
    [InlineData(DsnReturn.Headers, " RET=HDRS")]
    public void Mail_ret(DsnReturn ret, string expected)
    {
        Assert.Equal("MAIL FROM:<alice@example.org>" + expected + "\r\n", ClientCommands.MailFrom(Alice, Everything, ret: ret));
    }

    [Fact]
    public void Size_only_when_offered_and_given()
    {
        var sizeOnly = EhloCapabilities.Parse(["mx", "SIZE"]);
        Assert.Equal("MAIL FROM:<alice@example.org> SIZE=99\r\n", ClientCommands.MailFrom(Alice, sizeOnly, size: 99));
        Assert.Equal("MAIL FROM:<alice@example.org>\r\n", ClientCommands.MailFrom(Alice, sizeOnly));
    }

    [Fact]
    public void Utf8_address_is_written_as_utf8()
    {
        var line = ClientCommands.MailFrom(new SmtpAddress("jörg", "bücher.example"), Everything, smtpUtf8: true);
        Assert.Equal("MAIL FROM:<jörg@bücher.example> SMTPUTF8\r\n", line);
        Assert.Equal(Encoding.UTF8.GetBytes(line), ClientCommands.ToBytes(line));
    }

    [Fact]
    public void Quoted_local_part()
    {
        Assert.Equal("RCPT TO:<\"john doe\"@example.org>\r\n", ClientCommands.RcptTo(new SmtpAddress("john doe", "example.org"), Bare));
    }

    [Theory]
    [InlineData(DsnNotify.Default, "")]
    [InlineData(DsnNotify.Never, " NOTIFY=NEVER")]
    [InlineData(DsnNotify.Success, " NOTIFY=SUCCESS")]
    [InlineData(DsnNotify.Failure | DsnNotify.Delay, " NOTIFY=FAILURE,DELAY")]
    [InlineData(DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, " NOTIFY=SUCCESS,FAILURE,DELAY")]
    [InlineData(DsnNotify.Never | DsnNotify.Success, " NOTIFY=NEVER")]
    public void Rcpt_notify(DsnNotify notify, string expected)
    {
        Assert.Equal("RCPT TO:<alice@example.org>" + expected + "\r\n", ClientCommands.RcptTo(Alice, Everything, notify));
    }

    [Theory]
    [InlineData("rfc822;bob@example.org", "rfc822;bob@example.org")]
    [InlineData("rfc822;b+o=b@example.org", "rfc822;b+2Bo+3Db@example.org")]
    [InlineData("RFC822;a b@example.org", "RFC822;a+20b@example.org")]
    [InlineData("utf-8;jörg@example.org", "utf-8;j+C3+B6rg@example.org")]
    [InlineData("bob@example.org", "rfc822;bob@example.org")]
    public void Rcpt_orcpt_is_xtext(string stored, string wire)
    {
        Assert.Equal($"RCPT TO:<alice@example.org> NOTIFY=FAILURE ORCPT={wire}\r\n",
            ClientCommands.RcptTo(Alice, Everything, DsnNotify.Failure, stored));
    }

    [Fact]
    public void Rcpt_without_dsn_drops_dsn_parameters()
    {
        Assert.Equal("RCPT TO:<alice@example.org>\r\n",
            ClientCommands.RcptTo(Alice, Bare, DsnNotify.Success | DsnNotify.Failure, "rfc822;x@y"));
    }

    [Fact]
    public void Constant_commands()
    {
        Assert.Equal("DATA\r\n", ClientCommands.Data);
        Assert.Equal("RSET\r\n", ClientCommands.Rset);
        Assert.Equal("QUIT\r\n", ClientCommands.Quit);
        Assert.Equal("STARTTLS\r\n", ClientCommands.StartTls);
        Assert.Equal("NOOP\r\n", ClientCommands.Noop);
        Assert.Equal(".\r\n", ClientCommands.EndOfData);
    }

    [Fact]
    public void Auth_lines()
    {
        Assert.Equal("AUTH LOGIN\r\n", ClientCommands.Auth("LOGIN"));
        Assert.Equal("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", ClientCommands.Auth("PLAIN", SaslClient.EncodePlain("tim", "tanstaaftanstaaf")));
        Assert.Equal("AUTH PLAIN =\r\n", ClientCommands.Auth("PLAIN", ""));
    }

    [Fact]
    public void Sasl_plain_round_trips_through_the_server_decoder()
    {
        var encoded = SaslClient.EncodePlain("jörg", "pass wörd", "admin");
        Assert.True(SaslPlain.TryDecode(encoded, out var authzid, out var user, out var password, out _));
        Assert.Equal(("admin", "jörg", "pass wörd"), (authzid, user, password));
    }

    [Fact]
    public void Sasl_login_round_trips_through_the_server_decoder()
    {
        Assert.Equal("YWxpY2U=", SaslClient.EncodeLogin("alice"));
        Assert.True(SaslLogin.TryDecodeUser(SaslClient.EncodeLogin("alice"), out var user, out _));
        Assert.True(SaslLogin.TryDecodePassword(SaslClient.EncodeLogin("s3cret ✓"), out var password, out _));
        Assert.Equal(("alice", "s3cret ✓"), (user, password));
    }

    [Fact]
    public void Sasl_plain_refuses_nul()
    {
        Assert.Throws<ArgumentException>(() => SaslClient.EncodePlain("a\0b", "pw"));
    }
}
