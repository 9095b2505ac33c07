// Reply formatting (enhanced codes, wrapping at 512, sanitising) and the client-side reply parser.
using System.Buffers;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class SmtpReplyTests
{
    [Fact]
    public void Single_line()
    {
        Assert.Equal("250 OK\r\n", new SmtpReply(250, null, "OK").ToString());
        Assert.Equal("250 2.0.0 OK\r\n", new SmtpReply(250, "2.0.0", "OK").ToString());
        Assert.Equal("550 5.1.1 No such user\r\n", new SmtpReply(550, EnhancedStatusCode.BadDestinationMailbox, "No such user").ToString());
    }

    [Fact]
    public void Multi_line_repeats_the_enhanced_code_on_every_line()
    {
        var reply = new SmtpReply(250, "2.0.0", "first", "second", "third");
        Assert.Equal("250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0 third\r\n", reply.ToString());
        Assert.Equal(3, reply.Lines.Count);
    }

    [Fact]
    public void Ehlo_style_reply_without_enhanced_code()
    {
        var reply = new SmtpReply(250, null, "mx.example greets you", "PIPELINING", "SIZE 10240000", "8BITMIME");
        Assert.Equal("250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n", reply.ToString());
    }

    [Fact]
    public void Empty_text()
    {
        Assert.Equal("250\r\n", new SmtpReply(250, null).ToString());
        Assert.Equal("250 2.0.0\r\n", new SmtpReply(250, "2.0.0").ToString());
        Assert.Equal("250-\r\n250 x\r\n", new SmtpReply(250, null, "", "x").ToString());
    }

    [Fact]
    public void Write_to_buffer_writer_returns_byte_count()
    {
        var writer = new ArrayBufferWriter<byte>();
        var n = new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>").WriteTo(writer);
        Assert.Equal(writer.WrittenCount, n);
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>\r\n", Text(writer.WrittenSpan));
    }

    [Fact]
    public void Control_characters_are_replaced()
    {
        var reply = new SmtpReply(550, "5.7.1", "evil\r\n250 injected\0x\ty\u007f");
        Assert.Equal("550 5.7.1 evil  250 injected x y \r\n", reply.ToString());
        Assert.Equal("evil\r\n250 injected\0x\ty\u007f", reply.Lines[0]);
    }

    [Fact]
    public void FromText_splits_lines()
    {
        var reply = SmtpReply.FromText(214, "2.0.0", "one\ntwo\r\nthree");
        Assert.Equal(["one", "two", "three"], reply.Lines);
    }

    [Fact]
    public void Long_text_wraps_at_spaces_within_512()
    {
        var words = string.Join(' ', Enumerable.Range(0, 200).Select(i => $"word{i}"));
        var wire = new SmtpReply(550, "5.7.1", words).ToString();
        var lines = wire.Split("\r\n")[..^1];
        Assert.True(lines.Length > 1);
        Assert.All(lines, l => Assert.True(l.Length + 2 <= SmtpLimits.MaxReplyLine, $"line of {l.Length + 2}"));
        Assert.All(lines[..^1], l => Assert.StartsWith("550-5.7.1 ", l, StringComparison.Ordinal));
        Assert.StartsWith("550 5.7.1 ", lines[^1], StringComparison.Ordinal);
        Assert.Equal(words, string.Join(' ', lines.Select(l => l[10..])));
    }

    [Fact]
    public void Long_text_without_spaces_is_cut_at_exactly_512()
    {
        var wire = new SmtpReply(250, null, new string('x', 1200)).ToString();
        var lines = wire.Split("\r\n")[..^1];
        Assert.Equal(3, lines.Length);
        Assert.Equal(510, lines[0].Length);
        Assert.Equal(510, lines[1].Length);
        Assert.Equal(new string('x', 1200), string.Concat(lines.Select(l => l[4..])));
    }

    [Fact]
    public void Wrapping_counts_utf8_octets_and_keeps_characters_whole()
    {
        var text = string.Concat(Enumerable.Repeat("é😀", 300));
        var reply = new SmtpReply(250, "2.0.0", text);
        var writer = new ArrayBufferWriter<byte>();
        reply.WriteTo(writer);
        var wire = Text(writer.WrittenSpan);
        Assert.DoesNotContain('\uFFFD', wire);
        foreach (var line in wire.Split("\r\n")[..^1])
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(line) + 2 <= 512);
        Assert.Equal(text, string.Concat(wire.Split("\r\n")[..^1].Select(l => l[10..])));
    }

    [Theory]
    [InlineData(199)]
    [InlineData(600)]
    [InlineData(0)]
    [InlineData(260)]
    public void Bad_codes_throw(int code) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpReply(code, null, "x"));

    [Theory]
    [InlineData(250, "5.0.0")]
    [InlineData(550, "4.0.0")]
    [InlineData(550, "5.0")]
    [InlineData(550, "x")]
    public void Enhanced_code_must_match_class(int code, string enhanced) =>
        Assert.Throws<ArgumentException>(() => new SmtpReply(code, enhanced, "x"));

    [Fact]
    public void Classification()
    {
        Assert.True(new SmtpReply(250, null).IsPositive);
        Assert.True(new SmtpReply(354, null).IsPositive);
        Assert.True(new SmtpReply(451, null).IsTransient);
        Assert.True(new SmtpReply(554, null).IsPermanent);
        Assert.False(new SmtpReply(554, null).IsTransient);
    }

    public static TheoryData<SmtpReply> RoundTripReplies() =>
    [
        new SmtpReply(250, null, "OK"),
        new SmtpReply(250, "2.1.5", "Recipient OK"),
        new SmtpReply(250, null, "mx.example", "PIPELINING", "SIZE 100", "ENHANCEDSTATUSCODES"),
        new SmtpReply(451, "4.3.0", "Try again", "later please"),
        new SmtpReply(550, "5.7.1", string.Join(' ', Enumerable.Repeat("relaying denied", 80))),
        new SmtpReply(221, "2.0.0"),
        new SmtpReply(220, null, "mx.example ESMTP ünïcödé"),
    ];

    [Theory]
    [MemberData(nameof(RoundTripReplies))]
    public void Parser_round_trips_formatter(SmtpReply original)
    {
        var wire = Bytes(original.ToString());
        // Whole, then split at every byte boundary.
        for (var split = 0; split <= wire.Length; split++)
        {
            var head = new ReadOnlySequence<byte>(wire, 0, split);
            var buffer = head;
            if (split < wire.Length)
            {
                Assert.False(SmtpReply.TryParse(ref buffer, out _, out var malformedEarly));
                Assert.False(malformedEarly);
                Assert.Equal(head.Length, buffer.Length);
            }
            buffer = Sequence(wire[..split], wire[split..]);
            Assert.True(SmtpReply.TryParse(ref buffer, out var parsed, out var malformed));
            Assert.False(malformed);
            Assert.Equal(0, buffer.Length);
            Assert.Equal(original.Code, parsed!.Code);
            Assert.Equal(original.EnhancedCode, parsed.EnhancedCode);
            Assert.Equal(original.ToString(), parsed.ToString());
        }
    }

    [Fact]
    public void Parser_reads_one_reply_at_a_time_and_accepts_bare_lf()
    {
        var buffer = Sequence("250-2.0.0 a\n250 2.0.0 b\r\n354 go ahead\r\n");
        Assert.True(SmtpReply.TryParse(ref buffer, out var first, out _));
        Assert.Equal(["a", "b"], first!.Lines);
        Assert.Equal("2.0.0", first.EnhancedCode);
        Assert.True(SmtpReply.TryParse(ref buffer, out var second, out _));
        Assert.Equal(354, second!.Code);
        Assert.Null(second.EnhancedCode);
        Assert.Equal(["go ahead"], second.Lines);
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void Parser_leaves_text_when_enhanced_code_is_not_on_every_line()
    {
        var buffer = Sequence("250-2.0.0 a\r\n250 b\r\n");
        Assert.True(SmtpReply.TryParse(ref buffer, out var reply, out _));
        Assert.Null(reply!.EnhancedCode);
        Assert.Equal(["2.0.0 a", "b"], reply.Lines);
    }

    [Theory]
    [InlineData("25 OK\r\n")]
    [InlineData("abc OK\r\n")]
    [InlineData("250-a\r\n251 b\r\n")]
    [InlineData("250xOK\r\n")]
    [InlineData("199 x\r\n")]
    [InlineData("600 x\r\n")]
    [InlineData("\r\n")]
    public void Parser_flags_malformed(string wire)
    {
        var buffer = Sequence(wire);
        Assert.False(SmtpReply.TryParse(ref buffer, out var reply, out var malformed));
        Assert.Null(reply);
        Assert.True(malformed);
    }

    [Fact]
    public void Parser_flags_endless_line_as_malformed()
    {
        var buffer = Sequence("250 " + new string('x', 5000));
        Assert.False(SmtpReply.TryParse(ref buffer, out _, out var malformed));
        Assert.True(malformed);
    }
}

public class EnhancedStatusCodeTests
{
    [Theory]
    [InlineData("2.0.0", 2, 0, 0)]
    [InlineData("5.1.1", 5, 1, 1)]
    [InlineData("4.7.11", 4, 7, 11)]
    [InlineData("5.123.999", 5, 123, 999)]
    public void Parses(string text, int c, int s, int d)
    {
        Assert.True(EnhancedStatusCode.TryParse(text, out var code));
        Assert.Equal(new EnhancedStatusCode(c, s, d), code);
        Assert.Equal(text, code.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("3.0.0")]
    [InlineData("5.0")]
    [InlineData("5..0")]
    [InlineData("5.1.")]
    [InlineData("5.1000.0")]
    [InlineData("5.1.1000")]
    [InlineData("5.01.1")]
    [InlineData("5.1.1 ")]
    [InlineData("x.1.1")]
    public void Refuses(string text) => Assert.False(EnhancedStatusCode.TryParse(text, out _));

    [Fact]
    public void Well_known_values()
    {
        Assert.Equal("2.0.0", EnhancedStatusCode.Ok.ToString());
        Assert.Equal("2.1.5", EnhancedStatusCode.DestinationValid.ToString());
        Assert.Equal("5.1.1", EnhancedStatusCode.BadDestinationMailbox.ToString());
        Assert.Equal("5.5.2", EnhancedStatusCode.SyntaxError.ToString());
        Assert.Equal("5.5.4", EnhancedStatusCode.InvalidCommandArguments.ToString());
        Assert.Equal("5.5.1", EnhancedStatusCode.BadSequence.ToString());
        Assert.Equal("5.3.4", EnhancedStatusCode.MessageTooBig.ToString());
        Assert.Equal("4.5.3", EnhancedStatusCode.TooManyRecipients.ToString());
        Assert.Equal("5.5.3", EnhancedStatusCode.TooManyRecipientsPermanent.ToString());
        Assert.Equal("5.7.1", EnhancedStatusCode.RelayDenied.ToString());
        Assert.Equal("4.3.0", EnhancedStatusCode.LocalError.ToString());
        Assert.Equal("4.3.1", EnhancedStatusCode.SystemFull.ToString());
        Assert.Equal("4.3.4", EnhancedStatusCode.MessageTooBig.WithClass(4).ToString());
    }
}

public class XtextTests
{
    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("a+2Bb", "a+b")]
    [InlineData("a+3Db", "a=b")]
    [InlineData("+20", " ")]
    [InlineData("+c3+a9", "é")]
    [InlineData("", "")]
    public void Decodes(string xtext, string value)
    {
        Assert.True(Xtext.TryDecode(xtext, out var decoded));
        Assert.Equal(value, decoded);
        Assert.Equal(value, Xtext.Decode(xtext));
    }

    [Theory]
    [InlineData("a+")]
    [InlineData("a+2")]
    [InlineData("a+zz")]
    [InlineData("a=b")]
    [InlineData("a b")]
    [InlineData("+FF")]
    [InlineData("é")]
    public void Refuses(string xtext)
    {
        Assert.False(Xtext.TryDecode(xtext, out _));
        Assert.Throws<FormatException>(() => Xtext.Decode(xtext));
    }

    [Theory]
    [InlineData("plain@example.org", "plain@example.org")]
    [InlineData("a+b=c d", "a+2Bb+3Dc+20d")]
    [InlineData("é", "+C3+A9")]
    public void Encodes_and_round_trips(string value, string xtext)
    {
        Assert.Equal(xtext, Xtext.Encode(value));
        Assert.Equal(value, Xtext.Decode(Xtext.Encode(value)));
    }
}
