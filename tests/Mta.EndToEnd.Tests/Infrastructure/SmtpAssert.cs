// Shared assertions and small SMTP helpers for the end-to-end tests (exact reply codes, Maildir reading).
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests.Infrastructure;

public static partial class SmtpAssert
{
    /// <summary>Asserts the reply code and, when given, the enhanced status code at the start of the first line.</summary>
    public static RawReply Reply(RawReply reply, int code, string? enhanced = null, string? textContains = null)
    {
        Assert.True(reply.Code == code, $"expected {code} {enhanced}, got: {reply}");
        if (enhanced is not null)
            Assert.True(reply.Lines[0].StartsWith(enhanced + " ", StringComparison.Ordinal) || reply.Lines[0] == enhanced,
                $"expected enhanced code {enhanced}, got: {reply}");
        if (textContains is not null)
            Assert.True(reply.Text.Contains(textContains, StringComparison.Ordinal), $"expected text '{textContains}', got: {reply}");
        return reply;
    }

    /// <summary>The reply text of one line without its enhanced status code.</summary>
    public static string TextOf(string line) => EnhancedPrefix().Replace(line, "", 1);

    /// <summary>The queue id from "250 2.0.0 Ok: queued as ID".</summary>
    public static string QueueIdOf(string replyText)
    {
        var m = QueuedAs().Match(replyText);
        Assert.True(m.Success, "no queue id in: " + replyText);
        return m.Groups[1].Value;
    }

    /// <summary>Sends EHLO and asserts 250.</summary>
    public static async Task EhloAsync(RawSmtpClient c, string name = "client.test") =>
        Reply(await c.CommandAsync("EHLO " + name), 250);

    /// <summary>One whole transaction over an open raw session; returns the final reply after the dot.</summary>
    /// <param name="body">The message as it goes on the wire after DATA (already dot-stuffed, CRLF endings), without the final ".\r\n".</param>
    public static async Task<RawReply> TransactionAsync(RawSmtpClient c, string from, IEnumerable<string> to, string body)
    {
        Reply(await c.CommandAsync($"MAIL FROM:<{from}>"), 250);
        foreach (var r in to) Reply(await c.CommandAsync($"RCPT TO:<{r}>"), 250);
        Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync(body + ".\r\n");
        return await c.ReadReplyAsync();
    }

    /// <summary>RCPTs, DATA and the body for a transaction whose MAIL was already accepted; returns the final reply.</summary>
    public static async Task<RawReply> TransactionAsyncAfterMail(RawSmtpClient c, IEnumerable<string> to, string body)
    {
        foreach (var r in to) Reply(await c.CommandAsync($"RCPT TO:<{r}>"), 250);
        Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync(body + ".\r\n");
        return await c.ReadReplyAsync();
    }

    public static Task<RawSmtpClient> ConnectAsync(MtaTestServer server) => RawSmtpClient.ConnectAsync(server.EndPoint);

    public static byte[] ReadBytes(string path) => File.ReadAllBytes(path);

    public static string ReadText(string path) => Encoding.UTF8.GetString(File.ReadAllBytes(path));

    /// <summary>Number of files in every user's Maildir new/ under the server's Maildir root.</summary>
    public static int CountAllDelivered(MtaTestServer server) =>
        Directory.Exists(server.Paths.MaildirRoot)
            ? Directory.GetDirectories(server.Paths.MaildirRoot).Sum(d => Directory.Exists(Path.Combine(d, "new")) ? Directory.GetFiles(Path.Combine(d, "new")).Length : 0)
            : 0;

    /// <summary>Finds <paramref name="needle"/> in <paramref name="haystack"/>; -1 when absent.</summary>
    public static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    public static IPEndPoint Loopback(int port) => new(IPAddress.Loopback, port);

    [GeneratedRegex(@"^[245]\.\d{1,3}\.\d{1,3} ")]
    private static partial Regex EnhancedPrefix();

    [GeneratedRegex(@"queued as ([A-Za-z0-9]+)")]
    private static partial Regex QueuedAs();
}
