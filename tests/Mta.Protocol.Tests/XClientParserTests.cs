// XCLIENT argument theories: every attribute, [UNAVAILABLE], xtext, and the 501 replies Postfix gives for bad input.
using System.Net;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class XClientParserTests
{
    [Fact]
    public void All_attributes_parse_in_order_with_names_upper_cased()
    {
        var c = Ok<XClientCommand>("xclient addr=192.0.2.7 Name=mail.example.org PORT=2525 PROTO=esmtp HELO=client.example LOGIN=alice DESTADDR=IPV6:2001:db8::25 DESTPORT=25 REVERSE_NAME=mail.example.org");
        Assert.Equal(SmtpVerb.XClient, c.Verb);
        Assert.Equal(
            ["ADDR=192.0.2.7", "NAME=mail.example.org", "PORT=2525", "PROTO=ESMTP", "HELO=client.example", "LOGIN=alice", "DESTADDR=IPV6:2001:db8::25", "DESTPORT=25", "REVERSE_NAME=mail.example.org"],
            c.Attributes.Select(a => $"{a.Name}={a.Value}"));
    }

    [Theory]
    [InlineData("[UNAVAILABLE]")]
    [InlineData("[TEMPUNAVAIL]")]
    [InlineData("[unavailable]")]
    public void Unavailable_values_are_null(string value)
    {
        var c = Ok<XClientCommand>($"XCLIENT ADDR={value} NAME={value} LOGIN={value}");
        Assert.All(c.Attributes, a => Assert.Null(a.Value));
    }

    [Fact]
    public void Values_are_xtext_decoded()
    {
        var c = Ok<XClientCommand>("XCLIENT LOGIN=j+2Bdoe+3Dx HELO=a.example");
        Assert.Equal("j+doe=x", c.Attributes[0].Value);
    }

    [Theory]
    [InlineData("192.0.2.1", "192.0.2.1")]
    [InlineData("IPV6:2001:db8::1", "2001:db8::1")]
    [InlineData("ipv6:::1", "::1")]
    public void Addresses_parse(string value, string expected)
    {
        Assert.True(XClientAttribute.TryParseAddress(value, out var address));
        Assert.Equal(IPAddress.Parse(expected), address);
        Ok<XClientCommand>($"XCLIENT ADDR={value}");
    }

    [Theory]
    [InlineData("XCLIENT", "Syntax: XCLIENT attribute=value...")]
    [InlineData("XCLIENT   ", "Syntax: XCLIENT attribute=value...")]
    [InlineData("XCLIENT ADDR", "Syntax: XCLIENT attribute=value...")]
    [InlineData("XCLIENT =1.2.3.4", "Syntax: XCLIENT attribute=value...")]
    [InlineData("XCLIENT FOO=bar", "Bad XCLIENT attribute name: FOO")]
    [InlineData("XCLIENT ADDR=", "Bad XCLIENT ADDR syntax: value is not xtext")]
    [InlineData("XCLIENT ADDR=1.2.3", "Bad XCLIENT ADDR syntax: 1.2.3")]
    [InlineData("XCLIENT ADDR=2001:db8::1", "Bad XCLIENT ADDR syntax: 2001:db8::1")]
    [InlineData("XCLIENT ADDR=IPV6:192.0.2.1", "Bad XCLIENT ADDR syntax: IPV6:192.0.2.1")]
    [InlineData("XCLIENT ADDR=1.2.3.400", "Bad XCLIENT ADDR syntax: 1.2.3.400")]
    [InlineData("XCLIENT ADDR=IPV6:fe80::1%eth0", "Bad XCLIENT ADDR syntax: IPV6:fe80::1%eth0")]
    [InlineData("XCLIENT PORT=65536", "Bad XCLIENT PORT syntax: 65536")]
    [InlineData("XCLIENT PORT=-1", "Bad XCLIENT PORT syntax: -1")]
    [InlineData("XCLIENT PROTO=LMTP", "Bad XCLIENT PROTO syntax: LMTP")]
    [InlineData("XCLIENT NAME=bad..name", "Bad XCLIENT NAME syntax: bad..name")]
    [InlineData("XCLIENT HELO=a+20b", "Bad XCLIENT HELO syntax: a b")]
    [InlineData("XCLIENT LOGIN=a+0Db", "Bad XCLIENT LOGIN syntax: a?b")]
    [InlineData("XCLIENT LOGIN=a+2", "Bad XCLIENT LOGIN syntax: value is not xtext")]
    [InlineData("XCLIENT ADDR=1.2.3.4 BOGUS=1", "Bad XCLIENT attribute name: BOGUS")]
    public void Malformed_is_501_5_5_4(string line, string text)
    {
        var reply = Fails(line, 501, "5.5.4");
        Assert.Equal(text, reply.Lines.Single());
    }

    [Fact]
    public void Ehlo_keyword_lists_every_attribute() =>
        Assert.Equal("XCLIENT ADDR NAME PORT PROTO HELO LOGIN DESTADDR DESTPORT REVERSE_NAME", XClientCommand.EhloKeyword);
}
