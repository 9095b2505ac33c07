// A byte-exact SMTP client for malformed input, pipelining and smuggling tests.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.EndToEnd.Tests.Infrastructure;

public sealed record RawReply(int Code, IReadOnlyList<string> Lines)
{
    public string Text => string.Join("\n", Lines);
    public override string ToString() => string.Join("\n", Lines.Select((l, i) => $"{Code}{(i == Lines.Count - 1 ? ' ' : '-')}{l}"));
}

public sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    private RawSmtpClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>This client's bound on reading a line, instead of <see cref="ReadTimeout"/>: for a reply that is slow
    /// on purpose (queued behind a flood).</summary>
    public TimeSpan? ReplyTimeout { get; set; }

    /// <param name="localAddress">The address to connect from (e.g. 127.0.0.10: all of 127/8 is loopback on Linux);
    /// null for the system's choice.</param>
    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endPoint, bool readGreeting = true, IPAddress? localAddress = null)
    {
        var tcp = localAddress is null ? new TcpClient() : new TcpClient(new IPEndPoint(localAddress, 0));
        await tcp.ConnectAsync(endPoint);
        var client = new RawSmtpClient(tcp);
        if (readGreeting)
        {
            var greeting = await client.ReadReplyAsync();
            if (greeting.Code != 220) throw new InvalidOperationException("greeting: " + greeting);
        }
        return client;
    }

    /// <summary>Connects from <paramref name="localAddress"/> (e.g. 127.0.0.5: Linux routes all of 127/8 to lo), so that
    /// one test plays several client addresses.</summary>
    public static async Task<RawSmtpClient> ConnectFromAsync(IPAddress localAddress, IPEndPoint endPoint, bool readGreeting = true)
    {
        var tcp = new TcpClient(new IPEndPoint(localAddress, 0));
        try
        {
            await tcp.ConnectAsync(endPoint);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        var client = new RawSmtpClient(tcp);
        if (readGreeting)
        {
            var greeting = await client.ReadReplyAsync();
            if (greeting.Code != 220) throw new InvalidOperationException("greeting: " + greeting);
        }
        return client;
    }

    /// <summary>Bytes received but not yet read as replies (after 220 to STARTTLS there must be none).</summary>
    public int BufferedBytes => _end - _start;

    /// <summary>Switches the connection to TLS: after 220 to STARTTLS, or at once on an implicit-TLS listener.</summary>
    public async Task StartTlsAsync(System.Net.Security.SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        var ssl = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsClientAsync(options, cancellationToken);
        _stream = ssl;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends one command line (CRLF added) and reads its reply.</summary>
    public async Task<RawReply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task<RawReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new IOException("connection closed while reading a reply; got: " + string.Join(" | ", lines));
            if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), out var code))
                throw new InvalidDataException("malformed reply line: " + line);
            lines.Add(line.Length > 4 ? line[4..] : "");
            if (line.Length == 3 || line[3] == ' ') return new RawReply(code, lines);
        }
    }

    /// <summary>True when the server has closed the connection (reads end of stream) within the timeout.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                if (_start < _end) { _start = _end; continue; }
                var n = await _stream.ReadAsync(_buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    /// <summary>Reads one line without its CRLF; null when the peer closed the connection.</summary>
    public async Task<string?> ReadLineAsync()
    {
        using var cts = new CancellationTokenSource(ReplyTimeout ?? ReadTimeout);
        while (true)
        {
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf >= 0)
            {
                var end = lf > _start && _buffer[lf - 1] == '\r' ? lf - 1 : lf;
                var line = Encoding.UTF8.GetString(_buffer, _start, end - _start);
                _start = lf + 1;
                return line;
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), cts.Token);
            if (n == 0) return null;
            _end += n;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
