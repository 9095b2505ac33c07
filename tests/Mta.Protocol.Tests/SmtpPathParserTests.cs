// Direct tests of the RFC 5321 path grammar, including the consumed count and error kinds.
using Mta.Abstractions;

namespace Mta.Protocol.Tests;

public class SmtpPathParserTests
{
    [Fact]
    public void Reverse_path_null_and_consumed()
    {
        Assert.True(SmtpPathParser.TryParseReversePath("<> SIZE=1", false, out var address, out var consumed, out var error));
        Assert.Same(SmtpAddress.Null, address);
        Assert.Equal(2, consumed);
        Assert.Null(error);

        Assert.True(SmtpPathParser.TryParseReversePath("<a@b.example> rest", false, out address, out consumed, out _));
        Assert.Equal(13, consumed);
        Assert.Equal("a@b.example", address.ToString());
    }

    [Fact]
    public void Forward_path_refuses_null()
    {
        Assert.False(SmtpPathParser.TryParseForwardPath("<>", false, out _, out _, out SmtpPathError kind, out var error));
        Assert.Equal(SmtpPathError.NullPathNotAllowed, kind);
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("<a@b.example", SmtpPathError.Syntax)]
    [InlineData("a@b.example", SmtpPathError.Syntax)]
    [InlineData("<jö@b.example>", SmtpPathError.NonAsciiNotAllowed)]
    [InlineData("<a@bü.example>", SmtpPathError.NonAsciiNotAllowed)]
    [InlineData("<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.example>", SmtpPathError.LocalPartTooLong)]
    public void Error_kinds(string path, SmtpPathError expected)
    {
        Assert.False(SmtpPathParser.TryParseForwardPath(path, false, out _, out _, out SmtpPathError kind, out _));
        Assert.Equal(expected, kind);
    }

    [Theory]
    [InlineData("example.org", true)]
    [InlineData("a-b.c1.example", true)]
    [InlineData("1.2.3.4", true)]
    [InlineData("-a.example", false)]
    [InlineData("a_b.example", false)]
    [InlineData("", false)]
    [InlineData("a.", false)]
    public void Domains(string domain, bool valid) => Assert.Equal(valid, SmtpPathParser.IsValidDomain(domain));

    [Theory]
    [InlineData("[0.0.0.0]", true)]
    [InlineData("[255.255.255.255]", true)]
    [InlineData("[001.002.003.004]", true)]
    [InlineData("[256.1.1.1]", false)]
    [InlineData("[1.2.3.4.5]", false)]
    [InlineData("[1.2.3.]", false)]
    [InlineData("[1234.1.1.1]", false)]
    [InlineData("[IPv6:::1]", true)]
    [InlineData("[ipv6:2001:DB8::1]", true)]
    [InlineData("[IPv6:2001:db8::g]", false)]
    [InlineData("[IPv6:127.0.0.1]", false)]
    [InlineData("[IPv6:]", false)]
    [InlineData("[tag:value]", true)]
    [InlineData("[-tag:value]", false)]
    [InlineData("[tag:]", false)]
    [InlineData("[tag:a\\b]", false)]
    [InlineData("[1.2.3.4", false)]
    public void Address_literals(string literal, bool valid) => Assert.Equal(valid, SmtpPathParser.IsValidAddressLiteral(literal));
}
