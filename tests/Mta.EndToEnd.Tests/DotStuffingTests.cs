// Dot-stuffing on the wire (RFC 5321 4.5.2) is removed exactly: the Maildir copy equals the original byte for byte.
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class DotStuffingTests
{
    /// <summary>Dot-stuffs a CRLF message the way a client must before sending it.</summary>
    private static string Stuff(string message) =>
        string.Join("\r\n", message.Split("\r\n").Select(l => l.StartsWith('.') ? "." + l : l));

    private static async Task<byte[]> SendAndReadAsync(MtaTestServer server, string wire)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        var reply = await SmtpAssert.TransactionAsync(c, "sender@remote.test", ["alice@example.test"], wire);
        SmtpAssert.Reply(reply, 250, "2.0.0", "queued as");
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        return SmtpAssert.ReadBytes(file);
    }

    private static void AssertTail(byte[] delivered, string original, string firstHeaderLine)
    {
        var start = SmtpAssert.IndexOf(delivered, Encoding.UTF8.GetBytes(firstHeaderLine + "\r\n"));
        Assert.True(start > 0, "own first header line not found (it must follow the prepended trace fields)");
        var tail = Encoding.UTF8.GetString(delivered, start, delivered.Length - start);
        Assert.Equal(original, tail);
    }

    [Fact]
    public async Task Stuffed_lines_are_unstuffed_exactly()
    {
        await using var server = await MtaTestServer.StartAsync();
        const string original =
            "Subject: dot-test\r\n" +
            "From: <sender@remote.test>\r\n" +
            "\r\n" +
            ".\r\n" +
            "..\r\n" +
            ".hidden\r\n" +
            "..double\r\n" +
            "a line\r\n" +
            " .space-dot\r\n" +
            "...\r\n" +
            "the last line\r\n";
        var wire = Stuff(original);
        Assert.Contains("\r\n..\r\n...\r\n..hidden\r\n...double\r\n", wire);
        var delivered = await SendAndReadAsync(server, wire);
        AssertTail(delivered, original, "Subject: dot-test");
        // The prepended part holds only trace fields, so the file starts with them.
        var head = Encoding.UTF8.GetString(delivered, 0, SmtpAssert.IndexOf(delivered, "Subject: dot-test"u8.ToArray()));
        Assert.Matches(@"^(Return-Path: <sender@remote\.test>\r\n)?(Delivered-To: alice@example\.test\r\n)?Received: from client\.test ", head);
    }

    [Fact]
    public async Task A_body_whose_first_line_is_a_single_dot_is_kept()
    {
        await using var server = await MtaTestServer.StartAsync();
        // No header section at all: the very first line of the content is "." (sent stuffed as "..").
        const string original = ".\r\nSubject: not-a-header-but-a-marker\r\nafter\r\n";
        var wire = Stuff(original);
        Assert.StartsWith("..\r\n", wire);
        var delivered = await SendAndReadAsync(server, wire);
        // The content begins right after the server's own trace fields, with the lone dot.
        var text = Encoding.UTF8.GetString(delivered);
        var receivedEnd = text.IndexOf("\r\n.\r\nSubject: not-a-header-but-a-marker\r\n", StringComparison.Ordinal);
        Assert.True(receivedEnd > 0, "unstuffed '.' line not found right before the marker: " + text);
        Assert.EndsWith("\r\n.\r\nSubject: not-a-header-but-a-marker\r\nafter\r\n", text);
    }

    [Fact]
    public async Task An_empty_message_is_accepted_and_delivered_with_only_trace_fields()
    {
        await using var server = await MtaTestServer.StartAsync();
        var delivered = await SendAndReadAsync(server, "");
        var text = Encoding.UTF8.GetString(delivered);
        Assert.Contains("Received: from client.test", text);
        // Nothing after the trace block: the file ends with the Received field's CRLF, no dot, no extra line.
        Assert.EndsWith("\r\n", text);
        Assert.DoesNotContain("\r\n.\r\n", text);
        Assert.DoesNotContain("\r\n\r\n", text);
        // The trace block: the Received field (its last line ends with the date) and the Authentication-Results field.
        var lines = text[..^2].Split("\r\n");
        Assert.All(lines, l => Assert.Matches(@"^(Return-Path:|Delivered-To:|Received:|Authentication-Results:|\s)", l));
        var receivedEnd = lines.TakeWhile(l => !l.StartsWith("Authentication-Results:", StringComparison.Ordinal)).Last();
        Assert.Matches(@"^\s.*;\s.*\d{2}:\d{2}:\d{2}", receivedEnd);
    }

    [Fact]
    public async Task Line_of_998_octets_plus_CRLF_is_kept_whole()
    {
        await using var server = await MtaTestServer.StartAsync();
        var original = "Subject: long-line\r\n\r\n" + new string('x', 998) + "\r\nend\r\n";
        var delivered = await SendAndReadAsync(server, Stuff(original));
        AssertTail(delivered, original, "Subject: long-line");
    }

    [Fact]
    public async Task Stuffed_dot_does_not_count_toward_the_1000_octet_line_limit()
    {
        // RFC 5321 4.5.3.1.6: 1000 octets including CRLF "not counting the leading dot duplicated for transparency".
        await using var server = await MtaTestServer.StartAsync();
        var longLine = "." + new string('x', 997); // 998 octets of text; stuffed on the wire to 999 + CRLF
        var original = "Subject: long-line\r\n\r\n" + longLine + "\r\nend\r\n";
        var delivered = await SendAndReadAsync(server, Stuff(original));
        AssertTail(delivered, original, "Subject: long-line");
    }
}
