// A raw SMTP client for tests: one line out, one reply in, each checked against what the test expects.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Testing;

/// <summary>An SMTP reply: its code and its lines' text (without the code and separator).</summary>
/// <param name="Code">The three-digit reply code.</param>
/// <param name="Lines">The text of each line.</param>
public sealed record SmtpTestReply(int Code, IReadOnlyList<string> Lines)
{
    /// <summary>The lines' text joined with newlines.</summary>
    public string Text => string.Join("\n", Lines);

    /// <inheritdoc/>
    public override string ToString() => string.Join("\n", Lines.Select((l, i) => $"{Code}{(i < Lines.Count - 1 ? '-' : ' ')}{l}"));
}

/// <summary>A reply was not the one a test expected.</summary>
public sealed class SmtpExpectationException(string message) : Exception(message);

/// <summary>
/// A plain-text SMTP client that sends exactly the lines a test gives and checks each reply:
/// <c>await client.ExpectAsync(220); await client.SendAsync("EHLO client.test", 250);</c>.
/// Every line sent and received is kept in <see cref="Transcript"/> and quoted when an expectation fails.
/// </summary>
public sealed class SmtpTestClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly StreamReader _reader;
    private readonly List<string> _transcript = [];

    private SmtpTestClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        // Latin-1 maps every octet to one char: a reply with 8-bit text still reads as lines.
        _reader = new StreamReader(_stream, Encoding.Latin1, detectEncodingFromByteOrderMarks: false);
    }

    /// <summary>How long a reply may take before <see cref="ReadReplyAsync"/> gives up. Defaults to 30 seconds.</summary>
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Every line sent (<c>C: </c>) and received (<c>S: </c>), in order.</summary>
    public IReadOnlyList<string> Transcript => _transcript;

    /// <summary>Connects; the greeting is the first reply to read (<c>await client.ExpectAsync(220)</c>).</summary>
    public static async Task<SmtpTestClient> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var tcp = new TcpClient(endPoint.AddressFamily) { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new SmtpTestClient(tcp);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command line (CRLF is added).</summary>
    public async Task SendLineAsync(string line, CancellationToken cancellationToken = default)
    {
        _transcript.Add("C: " + line);
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"), cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a command and checks its reply; returns the reply.</summary>
    public async Task<SmtpTestReply> SendAsync(string line, int expectedCode, string? textContains = null, CancellationToken cancellationToken = default)
    {
        await SendLineAsync(line, cancellationToken).ConfigureAwait(false);
        return await ExpectAsync(expectedCode, textContains, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a message's content after a 354 (dot-stuffed, LF line endings made CRLF, ended with
    /// <c>CRLF.CRLF</c>) and returns the reply to it, unchecked.</summary>
    public async Task<SmtpTestReply> SendDataAsync(string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var body = new StringBuilder();
        foreach (var line in message.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'))
            body.Append(line.StartsWith('.') ? "." : "").Append(line).Append("\r\n");
        body.Append(".\r\n");
        _transcript.Add($"C: <message, {body.Length} octets>");
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(body.ToString()), cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        return await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the next reply and checks its code (and that its text contains <paramref name="textContains"/>,
    /// ignoring case).</summary>
    /// <exception cref="SmtpExpectationException">Another reply came; the message quotes the transcript.</exception>
    public async Task<SmtpTestReply> ExpectAsync(int code, string? textContains = null, CancellationToken cancellationToken = default)
    {
        var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (reply.Code != code || (textContains is not null && !reply.Text.Contains(textContains, StringComparison.OrdinalIgnoreCase)))
            throw new SmtpExpectationException(
                $"expected {code}{(textContains is null ? "" : $" containing '{textContains}'")}, got {reply}\ntranscript:\n{string.Join("\n", _transcript)}");
        return reply;
    }

    /// <summary>Reads the next reply, all its lines.</summary>
    /// <exception cref="IOException">The server closed the connection.</exception>
    /// <exception cref="TimeoutException">No whole reply within <see cref="ReplyTimeout"/>.</exception>
    public async Task<SmtpTestReply> ReadReplyAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReplyTimeout);
        var lines = new List<string>();
        try
        {
            while (true)
            {
                var line = await _reader.ReadLineAsync(timeout.Token).ConfigureAwait(false)
                    ?? throw new IOException($"the server closed the connection\ntranscript:\n{string.Join("\n", _transcript)}");
                _transcript.Add("S: " + line);
                if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), out var code))
                    throw new SmtpExpectationException($"not an SMTP reply line: '{line}'");
                lines.Add(line.Length > 4 ? line[4..] : "");
                if (line.Length == 3 || line[3] == ' ') return new SmtpTestReply(code, lines);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no reply within {ReplyTimeout}\ntranscript:\n{string.Join("\n", _transcript)}");
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _reader.Dispose();
        _tcp.Dispose();
    }
}
