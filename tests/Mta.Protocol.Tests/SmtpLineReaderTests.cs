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
}
