// One pipelined session transcript, sent whole, a line at a time and a byte at a time: the replies must not differ.
using System.Net.Sockets;
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class TranscriptTests
{
    private const string Transcript =
        "EHLO client.test\r\n" +
        "MAIL FROM:<sender@client.test> SIZE=300 BODY=8BITMIME\r\n" +
        "RCPT TO:<alice@example.test>\r\n" +
        "RCPT TO:<nobody@elsewhere.test>\r\n" +
        "RCPT TO:<Postmaster>\r\n" +
        "DATA\r\n" +
        "Subject: transcript\r\n" +
        "\r\n" +
        "..leading dot\r\n" +
        "line\n.\nnot the end\r\n" +
        ".\r\n" +
        "NOOP\r\n" +
        "MAIL FROM:<>\r\n" +
        "RCPT TO:<alice@example.test>\r\n" +
        "DATA\r\n" +
        "Subject: second\r\n" +
        "\r\n" +
        "body\r\n" +
        ".\r\n" +
        "FROB\r\n" +
        "QUIT\r\n";

    private static readonly string[] Expected =
    [
        "220", "250", "250 2.0.0", "250 2.1.5", "554 5.7.1", "250 2.1.5", "354",
        "554 5.6.0", // bare LF inside the first message: refused, never ended early
        "250 2.0.0", "250 2.0.0", "250 2.1.5", "354", "250 2.0.0", "500 5.5.2", "221 2.0.0",
    ];

    public enum Split { Whole, PerLine, PerByte }

    [Theory]
    [InlineData(Split.Whole)]
    [InlineData(Split.PerLine)]
    [InlineData(Split.PerByte)]
    public async Task Replies_do_not_depend_on_how_the_input_is_fragmented(Split split)
    {
        await using var server = await MtaTestServer.StartAsync();
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(server.EndPoint);
        var stream = tcp.GetStream();
        var bytes = Encoding.ASCII.GetBytes(Transcript);
        var chunks = split switch
        {
            Split.Whole => [bytes],
            Split.PerLine => SplitAfterLineFeeds(bytes),
            _ => bytes.Select(b => new[] { b }).ToList(),
        };
        // DATA is the last command of a pipelined group (RFC 2920): wait for 354 before sending the body.
        var reader = new ReplyReader(stream);
        var replies = new List<string> { await reader.NextAsync() };
        var sent = 0;
        foreach (var chunk in chunks)
        {
            await stream.WriteAsync(chunk);
            await stream.FlushAsync();
            sent += chunk.Length;
            if (split == Split.PerByte) await Task.Yield();
        }
        while (replies.Count < Expected.Length) replies.Add(await reader.NextAsync());

        for (var i = 0; i < Expected.Length; i++)
            Assert.True(replies[i].StartsWith(Expected[i], StringComparison.Ordinal), $"reply {i}: expected {Expected[i]}, got {replies[i]}");
        var delivered = await server.WaitForMailAsync("alice", 1);
        Assert.Single(delivered);
        Assert.Contains("Subject: second", await File.ReadAllTextAsync(delivered[0]));
    }

    private static List<byte[]> SplitAfterLineFeeds(byte[] bytes)
    {
        var chunks = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != '\n') continue;
            chunks.Add(bytes[start..(i + 1)]);
            start = i + 1;
        }
        if (start < bytes.Length) chunks.Add(bytes[start..]);
        return chunks;
    }

    /// <summary>Reads whole replies (the last line of a multi-line reply) as "CODE rest-of-line".</summary>
    private sealed class ReplyReader(NetworkStream stream)
    {
        private readonly StringBuilder _pending = new();
        private readonly byte[] _buffer = new byte[8192];

        public async Task<string> NextAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            while (true)
            {
                var text = _pending.ToString();
                var lf = text.IndexOf('\n');
                while (lf >= 0)
                {
                    var line = text[..lf].TrimEnd('\r');
                    text = text[(lf + 1)..];
                    if (line.Length >= 4 && line[3] == '-') { lf = text.IndexOf('\n'); continue; }
                    _pending.Clear().Append(text);
                    return line;
                }
                var n = await stream.ReadAsync(_buffer, cts.Token);
                if (n == 0) throw new IOException("closed; pending: " + _pending);
                _pending.Append(Encoding.ASCII.GetString(_buffer, 0, n));
            }
        }
    }
}
