// One client SMTP connection over a raw socket: buffered reply reader, whole-buffer writes.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Bench;

internal sealed class SmtpConnection : IDisposable
{
    private const int BufferSize = 8192;
    private readonly Socket _socket;
    private readonly byte[] _buf = new byte[BufferSize];
    private int _start, _end; // unread bytes are _buf[_start.._end)
    private readonly CancellationTokenRegistration _reg;

    /// <summary>Text of the last reply's final line (decoded only on demand, for error messages).</summary>
    public string LastReply => _lastLen > 0 ? Encoding.ASCII.GetString(_lastLine, 0, _lastLen) : "";
    private readonly byte[] _lastLine = new byte[128];
    private int _lastLen;

    /// <summary>True when the EHLO reply listed PIPELINING.</summary>
    public bool ServerPipelining { get; private set; }

    private SmtpConnection(Socket socket, CancellationToken ct)
    {
        _socket = socket;
        // The global --timeout cancels the token; closing the socket aborts any pending I/O.
        _reg = ct.Register(static s => ((Socket)s!).Dispose(), socket);
    }

    public static async Task<SmtpConnection> ConnectAsync(IPEndPoint ep, CancellationToken ct)
    {
        // NoDelay: commands are small and we wait for each reply; Nagle would add latency.
        // SO_SNDBUF is left to kernel autotuning: fixing it (128 KiB..1 MiB) measured slower at 100 KiB.
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await s.ConnectAsync(ep, ct);
            return new SmtpConnection(s, ct);
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        // Socket.SendAsync may in principle return after a partial write; loop until all is out.
        while (!data.IsEmpty)
        {
            int n = await _socket.SendAsync(data, SocketFlags.None, ct);
            if (n <= 0) throw new IOException("connection closed while sending");
            data = data[n..];
        }
    }

    /// <summary>Sends header then body in one gather write (one syscall, no copy of the shared body).</summary>
    public async ValueTask SendAsync(IList<ArraySegment<byte>> parts, int total, CancellationToken ct)
    {
        int n = await _socket.SendAsync(parts, SocketFlags.None);
        if (n == total) return;
        // Partial gather write: finish the rest piece by piece (rare; not expected on Linux).
        int skip = n;
        foreach (var p in parts)
        {
            if (skip >= p.Count) { skip -= p.Count; continue; }
            await SendAsync(p.AsMemory(skip), ct);
            skip = 0;
        }
    }

    /// <summary>Reads one (possibly multi-line) reply and returns its code; 0 for a malformed reply.</summary>
    public async ValueTask<int> ReadReplyAsync(CancellationToken ct, bool scanEhlo = false)
    {
        while (true)
        {
            int lineEnd = await ReadLineAsync(ct);
            int len = lineEnd - _start; // without CRLF
            var line = _buf.AsSpan(_start, len);
            _start = lineEnd + 2;
            if (scanEhlo && len >= 14 && line.Slice(4).StartsWith("PIPELINING"u8)) ServerPipelining = true;
            if (len < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])) { Remember(line); return 0; }
            // "250-..." continues, "250 ..." or a bare "250" ends the reply.
            if (len > 3 && line[3] == '-') continue;
            Remember(line);
            return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        }
    }

    private void Remember(ReadOnlySpan<byte> line)
    {
        _lastLen = Math.Min(line.Length, _lastLine.Length);
        line[.._lastLen].CopyTo(_lastLine);
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    /// <summary>Index of the CR of the next CRLF-terminated line, reading more from the socket as needed.</summary>
    private async ValueTask<int> ReadLineAsync(CancellationToken ct)
    {
        // Everything consumed: restart at the front so the buffer rarely needs compacting.
        if (_start == _end) _start = _end = 0;
        int scanFrom = _start;
        while (true)
        {
            int i = _buf.AsSpan(scanFrom, _end - scanFrom).IndexOf("\r\n"u8);
            if (i >= 0) return scanFrom + i;
            scanFrom = Math.Max(_start, _end - 1); // a CR may already be at the end
            if (_start > 0 && _end == _buf.Length)
            {
                // Compact so the partial line can grow; replies are short, this is rare.
                int keep = _end - _start;
                Buffer.BlockCopy(_buf, _start, _buf, 0, keep);
                scanFrom -= _start;
                _start = 0;
                _end = keep;
            }
            if (_end == _buf.Length) throw new IOException($"reply line longer than {BufferSize} bytes");
            int n = await _socket.ReceiveAsync(_buf.AsMemory(_end), SocketFlags.None, ct);
            if (n == 0) throw new IOException("connection closed by server");
            _end += n;
        }
    }

    public void Dispose()
    {
        _reg.Dispose();
        _socket.Dispose();
    }
}
