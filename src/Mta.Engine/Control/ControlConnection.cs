// One accepted control-socket client: bounded newline-delimited JSON in, serialised response lines out, peer credentials.
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Mta.Engine.Control;

/// <summary>
/// The server's side of one control connection, handed to every <see cref="IControlCommandHandler"/>. Sending is safe
/// from several threads at once (a streaming command may push from wherever its events arrive).
/// </summary>
public sealed class ControlConnection : IAsyncDisposable
{
    // Linux: struct ucred { pid_t pid; uid_t uid; gid_t gid; } through getsockopt(SOL_SOCKET, SO_PEERCRED).
    private const int SolSocket = 1, SoPeerCred = 17;
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _aborted;
    private readonly ControlServerOptions _options;
    // Set after an over-long line was answered: the rest of that line is dropped as it arrives, never buffered.
    private bool _discarding;
    private bool _responseComplete = true;
    private volatile bool _broken;

    internal ControlConnection(Socket socket, long id, ControlServerOptions options, CancellationToken serverStopping)
    {
        _socket = socket;
        _options = options;
        Id = id;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        _aborted = CancellationTokenSource.CreateLinkedTokenSource(serverStopping);
        Peer = ReadPeerCredentials(socket);
    }

    /// <summary>A number for log lines, unique within one server run.</summary>
    public long Id { get; }

    /// <summary>Who connected, from the kernel; null where the platform cannot tell (not Linux).</summary>
    public PeerCredentials? Peer { get; }

    /// <summary>Fires when the server stops or a write to this client failed; handlers receive it as their token.</summary>
    public CancellationToken Aborted => _aborted.Token;

    internal bool ResponseComplete => _responseComplete;

    internal bool IsBroken => _broken;

    /// <summary>Sends the final line of the current response: <c>{"ok":true,"result":RESULT}</c>.</summary>
    /// <exception cref="InvalidOperationException">The response already ended (true of every Send method).</exception>
    /// <exception cref="IOException">The client stopped reading within the send timeout; the connection is dropped.</exception>
    public Task SendAsync<T>(T result, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        WriteResponseAsync(w => JsonSerializer.Serialize(w, result, typeInfo), more: false, cancellationToken);

    /// <summary>Sends the final line of the current response with an untyped result (null writes <c>"result":null</c>).</summary>
    public Task SendAsync(JsonNode? result, CancellationToken cancellationToken) =>
        WriteResponseAsync(w => WriteNode(w, result), more: false, cancellationToken);

    /// <summary>Sends one line of a response that goes on: <c>{"ok":true,"result":ITEM,"more":true}</c>.</summary>
    public Task SendPartAsync<T>(T item, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        WriteResponseAsync(w => JsonSerializer.Serialize(w, item, typeInfo), more: true, cancellationToken);

    /// <summary>Sends one untyped line of a response that goes on.</summary>
    public Task SendPartAsync(JsonNode? item, CancellationToken cancellationToken) =>
        WriteResponseAsync(w => WriteNode(w, item), more: true, cancellationToken);

    /// <summary>Ends the current response with <c>{"ok":false,"error":ERROR,"code":CODE}</c> (code omitted when null).</summary>
    public Task SendErrorAsync(string error, string? code, CancellationToken cancellationToken) =>
        WriteLineAsync(w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("ok", false);
            w.WriteString("error", error);
            if (code is not null) w.WriteString("code", code);
            w.WriteEndObject();
        }, final: true, cancellationToken);

    /// <summary>
    /// For long-lived commands: waits for the next line the client sends and parses it as a request; null when the client
    /// closed its side (so a streaming handler learns that its listener went away).
    /// </summary>
    /// <exception cref="ControlCommandException">The line is malformed or too long.</exception>
    public Task<ControlRequest?> ReadRequestAsync(CancellationToken cancellationToken) => ReadRequestAsync(null, cancellationToken);

    internal async Task<ControlRequest?> ReadRequestAsync(TimeSpan? idleTimeout, CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (idleTimeout is { } timeout) idle.CancelAfter(timeout);
        try
        {
            return await ReadRequestCoreAsync(idle.Token);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException("the control client sent nothing within the idle timeout");
        }
    }

    private async Task<ControlRequest?> ReadRequestCoreAsync(CancellationToken cancellationToken)
    {
        var max = _options.MaxRequestLineBytes;
        while (true)
        {
            var read = await _reader.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            var newline = buffer.PositionOf((byte)'\n');
            if (_discarding)
            {
                if (newline is null)
                {
                    _reader.AdvanceTo(buffer.End);
                    if (read.IsCompleted) return null;
                    continue;
                }
                _reader.AdvanceTo(buffer.GetPosition(1, newline.Value));
                _discarding = false;
                continue;
            }
            if (newline is { } end)
            {
                var line = buffer.Slice(0, end);
                if (line.Length > max)
                {
                    _reader.AdvanceTo(buffer.GetPosition(1, end));
                    throw TooLong();
                }
                var bytes = line.ToArray();
                _reader.AdvanceTo(buffer.GetPosition(1, end));
                // Blank lines (a client's keep-alive, a stray CRLF) are not requests.
                var text = bytes.AsSpan().TrimEnd("\r"u8).Trim(" \t"u8);
                if (text.IsEmpty) continue;
                return ControlRequest.Parse(text);
            }
            if (buffer.Length > max)
            {
                _reader.AdvanceTo(buffer.End);
                _discarding = !read.IsCompleted;
                throw TooLong();
            }
            if (read.IsCompleted)
            {
                // A last request without its newline still counts: the client wrote it and shut down its side.
                var rest = buffer.ToArray();
                _reader.AdvanceTo(buffer.End);
                var text = rest.AsSpan().TrimEnd("\r"u8).Trim(" \t"u8);
                if (text.IsEmpty) return null;
                return ControlRequest.Parse(text);
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private ControlCommandException TooLong() =>
        new($"request line longer than {_options.MaxRequestLineBytes} bytes", ControlErrorCodes.TooLong);

    // Called by the server before each answer (a dispatched request, or a refusal of a bad line), so the one-final-line
    // rule holds per request.
    internal void BeginResponse() => _responseComplete = false;

    private Task WriteResponseAsync(Action<Utf8JsonWriter> writeResult, bool more, CancellationToken cancellationToken) =>
        WriteLineAsync(w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("ok", true);
            w.WritePropertyName("result");
            writeResult(w);
            if (more) w.WriteBoolean("more", true);
            w.WriteEndObject();
        }, final: !more, cancellationToken);

    private async Task WriteLineAsync(Action<Utf8JsonWriter> write, bool final, CancellationToken cancellationToken)
    {
        // Serialised before the lock, so a slow client never holds up another thread's serialisation.
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
            write(writer);
        buffer.Write(NewLine);

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (_responseComplete)
                throw new InvalidOperationException("the response to this request has already been completed");
            if (final) _responseComplete = true;
            ObjectDisposedException.ThrowIf(_broken, this);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.SendTimeout);
            try
            {
                await _stream.WriteAsync(buffer.WrittenMemory, timeout.Token);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // A write that failed or timed out leaves the line half-sent: the connection cannot be used any more.
                Abort();
                if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                    throw new IOException("the control client stopped reading (send timeout)", ex);
                throw;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    // Also used by a streaming command's owner to drop a client that stopped reading: the handler sees Aborted fire.
    internal void Abort()
    {
        _broken = true;
        try { _aborted.Cancel(); } catch (ObjectDisposedException) { }
    }

    private static void WriteNode(Utf8JsonWriter writer, JsonNode? node)
    {
        if (node is null) writer.WriteNullValue();
        else node.WriteTo(writer);
    }

    private static PeerCredentials? ReadPeerCredentials(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // The raw call: GetSocketOption would translate SocketOptionName values and knows no SO_PEERCRED.
            Span<byte> ucred = stackalloc byte[12];
            if (socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) < 12) return null;
            // Native byte order: the kernel fills the struct as the C library sees it.
            var pid = MemoryMarshal.Read<int>(ucred[..4]);
            var uid = MemoryMarshal.Read<uint>(ucred[4..8]);
            var gid = MemoryMarshal.Read<uint>(ucred[8..12]);
            return new PeerCredentials(pid, uid, gid);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Closes the connection (both directions) and releases its buffers.</summary>
    public async ValueTask DisposeAsync()
    {
        Abort();
        await _reader.CompleteAsync();
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        await _stream.DisposeAsync();
        _socket.Dispose();
        _aborted.Dispose();
        _writeLock.Dispose();
    }
}
