// Command-line framing: whole lines, partial input, the length bound and skipping an over-long line.
using System.Buffers;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class SmtpLineReaderTests
{
    [Theory]
    [InlineData("QUIT\r\n", "QUIT")]
    [InlineData("QUIT\n", "QUIT")]
    [InlineData("\r\n", "")]
    [InlineData("A\rB\r\n", "A\rB")]
    public void Complete_line(string input, string expected)
    {
        var buffer = Sequence(input);
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(buffer, 512, out var line, out var consumed));
        Assert.Equal(expected, Text(line));
        Assert.Equal(buffer.End, consumed);
    }

    [Fact]
    public void Reads_lines_one_after_another_across_segments()
    {
        var buffer = Sequence("EHLO a\r", "\nMAIL FROM:<a", "@b>\r\nRCPT");
        var lines = new List<string>();
        while (SmtpLineReader.TryReadLine(buffer, 512, out var line, out var consumed) == LineStatus.Complete)
        {
            lines.Add(Text(line));
            buffer = buffer.Slice(consumed);
        }
        Assert.Equal(["EHLO a", "MAIL FROM:<a@b>"], lines);
        Assert.Equal("RCPT", Text(buffer));
    }

    [Theory]
    [InlineData("")]
    [InlineData("QUIT")]
    [InlineData("QUIT\r")]
    public void Incomplete_consumes_nothing(string input)
    {
        var buffer = Sequence(input);
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(buffer, 512, out _, out var consumed));
        Assert.Equal(buffer.Start, consumed);
    }

    [Fact]
    public void Line_of_512_with_crlf_fits_and_513_is_too_long()
    {
        var ok = Sequence(new string('a', 510) + "\r\n");
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(ok, 512, out var line, out _));
        Assert.Equal(510, line.Length);

        var tooLong = Sequence(new string('a', 511) + "\r\n");
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(tooLong, 512, out _, out var consumed));
        Assert.Equal(tooLong.Start, consumed);

        // 511 octets and a CR still waiting for its LF is already over the limit.
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(Sequence(new string('a', 511) + "\r"), 512, out _, out _));
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(Sequence(new string('a', 510) + "\r"), 512, out _, out _));
    }

    [Fact]
    public void Too_long_is_reported_without_more_than_the_limit_buffered()
    {
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(Sequence(new string('a', 512)), 512, out _, out _));
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(Sequence(new string('a', 511)), 512, out _, out _));
    }

    [Fact]
    public void Skip_discards_to_the_lf_then_reading_resumes()
    {
        // Simulates a session: too long, skip across two reads, then the next command.
        var first = Sequence(new string('a', 600));
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(first, 512, out _, out _));
        Assert.False(SmtpLineReader.TrySkipToEndOfLine(first, out var consumed));
        Assert.Equal(first.End, consumed);

        var second = Sequence("bbbb", "\r\nQUIT\r\n");
        Assert.True(SmtpLineReader.TrySkipToEndOfLine(second, out consumed));
        var rest = second.Slice(consumed);
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(rest, 512, out var line, out _));
        Assert.Equal("QUIT", Text(line));
    }

    [Fact]
    public void Every_split_gives_the_same_lines()
    {
        var input = Bytes("EHLO client.example\r\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\r\nDATA\r\n");
        for (var split = 0; split <= input.Length; split++)
        {
            var buffer = Sequence(input[..split], input[split..]);
            var lines = new List<string>();
            while (SmtpLineReader.TryReadLine(buffer, 512, out var line, out var consumed) == LineStatus.Complete)
            {
                lines.Add(Text(line));
                buffer = buffer.Slice(consumed);
            }
            Assert.Equal(["EHLO client.example", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA"], lines);
        }
    }

    // A command line of exactly `octets` octets including CRLF, in chunks of 1000 like a socket delivers them.
    private static ReadOnlySequence<byte> CommandLine(string start, int octets, bool complete = true)
    {
        var text = start + new string('A', octets - start.Length - 2) + (complete ? "\r\n" : "");
        return Sequence(text.Chunk(1000).Select(c => new string(c)).ToArray());
    }

    [Theory]
    [InlineData("AUTH PLAIN ")]
    [InlineData("auth plain ")]
    [InlineData("Auth\tLOGIN ")]
    public void An_AUTH_line_may_take_12288_octets(string start)
    {
        var buffer = CommandLine(start, SmtpLimits.MaxAuthLine);
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadCommandLine(buffer, out var line, out var consumed, out var limit));
        Assert.Equal(SmtpLimits.MaxAuthLine, limit);
        Assert.Equal(SmtpLimits.MaxAuthLine - 2, line.Length);
        Assert.Equal(buffer.End, consumed);
    }

    [Fact]
    public void An_AUTH_line_past_12288_octets_is_too_long_and_can_be_skipped()
    {
        var buffer = CommandLine("AUTH PLAIN ", SmtpLimits.MaxAuthLine + 1);
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadCommandLine(buffer, out _, out var consumed, out var limit));
        Assert.Equal(SmtpLimits.MaxAuthLine, limit);
        Assert.Equal(buffer.Start, consumed);
        Assert.True(SmtpLineReader.TrySkipToEndOfLine(Sequence(buffer.ToArray().Concat("NOOP\r\n"u8.ToArray()).ToArray()), out _));
    }

    [Fact]
    public void An_unfinished_AUTH_line_waits_for_more_up_to_12288_octets()
    {
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadCommandLine(CommandLine("AUTH PLAIN ", 10_002, complete: false), out _, out var consumed, out _));
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadCommandLine(CommandLine("AUTH PLAIN ", 12_290, complete: false), out _, out _, out _));
    }

    [Theory]
    [InlineData("MAIL FROM:<")]
    [InlineData("AUTHX ")]
    [InlineData("AUTH")]
    [InlineData(" AUTH PLAIN ")]
    [InlineData("NOOP AUTH ")]
    public void Every_other_line_keeps_512_octets(string start)
    {
        var ok = CommandLine(start, SmtpLimits.MaxCommandLine);
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadCommandLine(ok, out var line, out _, out var limit));
        Assert.Equal(SmtpLimits.MaxCommandLine, limit);
        Assert.Equal(SmtpLimits.MaxCommandLine - 2, line.Length);
        var tooLong = CommandLine(start, SmtpLimits.MaxCommandLine + 1);
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadCommandLine(tooLong, out _, out _, out limit));
        Assert.Equal(SmtpLimits.MaxCommandLine, limit);
    }

    [Fact]
    public void Short_lines_are_read_one_after_another_whatever_the_verb()
    {
        var buffer = Sequence("AU", "TH PLAIN AGFsaWNl\r\nNOOP\r\n");
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadCommandLine(buffer, out var line, out var consumed, out _));
        Assert.Equal("AUTH PLAIN AGFsaWNl", Text(line));
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadCommandLine(buffer.Slice(consumed), out line, out _, out _));
        Assert.Equal("NOOP", Text(line));
    }
}
