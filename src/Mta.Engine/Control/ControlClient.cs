// The client side of the control socket, used by `mta queue ...`: connect, send a request, read its response lines.
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Mta.Engine.Control;

/// <summary>No server listens on the control socket: the file is missing, or it is left over and refuses connections.</summary>
public sealed class ControlServerUnavailableException : ControlException
{
    /// <summary>Creates the exception; the message is the one the CLI prints after <c>mta: </c>.</summary>
    public ControlServerUnavailableException(string socketPath, Exception? inner = null)
        : base($"no running server (no control socket at {socketPath}); start it with 'mta run'", inner) => SocketPath = socketPath;

    /// <summary>The socket path that was tried.</summary>
    public string SocketPath { get; }
}

/// <summary>One response line: <c>{"ok":true,"result":...,"more":true?}</c> or <c>{"ok":false,"error":"...","code":"..."?}</c>.</summary>
public sealed class ControlResponse
{
    private ControlResponse(bool ok, JsonElement result, string? error, string? code, bool more)
    {
        Ok = ok;
        Result = result;
        Error = error;
        Code = code;
        More = more;
    }

    /// <summary>True for a result, false for an error (an error always ends the response).</summary>
    public bool Ok { get; }

    /// <summary>The result; <see cref="JsonValueKind.Undefined"/> on an error line.</summary>
    public JsonElement Result { get; }

    /// <summary>The error text of an <c>ok:false</c> line.</summary>
    public string? Error { get; }

    /// <summary>The error's code (<see cref="ControlErrorCodes"/>), if the server gave one.</summary>
    public string? Code { get; }

    /// <summary>True when more lines of the same response follow.</summary>
    public bool More { get; }

    /// <summary>Reads <see cref="Result"/> as <typeparamref name="T"/> (source-generated metadata, no reflection).</summary>
    /// <exception cref="ControlCommandException">The line is an error.</exception>
    /// <exception cref="ControlException">The result does not have the expected shape.</exception>
    public T GetResult<T>(JsonTypeInfo<T> typeInfo)
    {
        EnsureOk();
        try
        {
            return Result.Deserialize(typeInfo) ?? throw new ControlException($"the server sent no {typeof(T).Name}");
        }
        catch (JsonException ex)
        {
            throw new ControlException($"unexpected response from the server: {ex.Message}", ex);
        }
    }

    /// <summary>Throws <see cref="ControlCommandException"/> (message and code from the server) when this line is an error.</summary>
    public void EnsureOk()
    {
        if (!Ok) throw new ControlCommandException(Error ?? "the server reported an error", Code);
    }

    internal static ControlResponse Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            var root = JsonElement.ParseValue(ref reader);
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("ok", out var ok) || ok.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw new ControlException("unexpected response from the server: no \"ok\"");
            var result = root.TryGetProperty("result", out var r) ? r : default;
            var error = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            var code = root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            var more = ok.GetBoolean() && root.TryGetProperty("more", out var m) && m.ValueKind == JsonValueKind.True;
            return new ControlResponse(ok.GetBoolean(), result, error, code, more);
        }
        catch (JsonException ex)
        {
            throw new ControlException($"unreadable response from the server: {ex.Message}", ex);
        }
    }
}

/// <summary>
/// A connection to a running server's control socket. Requests on one client run one after another; for a streaming
/// command set <see cref="ReadTimeout"/> to <see cref="Timeout.InfiniteTimeSpan"/> and enumerate <see cref="SendAsync"/>.
/// </summary>
public sealed class ControlClient : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;

    private ControlClient(Socket socket, string socketPath)
    {
        _socket = socket;
        SocketPath = socketPath;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    /// <summary>The socket connected to.</summary>
    public string SocketPath { get; }

    /// <summary>How long to wait for each response line; <see cref="Timeout.InfiniteTimeSpan"/> for streaming commands.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest response line accepted (a message with very many recipients makes a long line).</summary>
    public int MaxResponseLineBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Connects to the control socket at <paramref name="socketPath"/>.</summary>
    /// <exception cref="ControlServerUnavailableException">No socket there, or nothing listens on it.</exception>
    /// <exception cref="ControlException">The socket exists but cannot be used (permission denied, path too long, timeout).</exception>
    public static async Task<ControlClient> ConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        socketPath = Path.GetFullPath(socketPath);
        if (!File.Exists(socketPath)) throw new ControlServerUnavailableException(socketPath);
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(socketPath);
        }
        catch (ArgumentException ex)
        {
            throw new ControlException($"the control socket path {socketPath} is too long for a Unix socket", ex);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token);
            return new ControlClient(socket, socketPath);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            // Refused: the file is left over from a server that is gone. AddressNotAvailable: it vanished meanwhile.
            socket.Dispose();
            throw new ControlServerUnavailableException(socketPath, ex);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AccessDenied)
        {
            socket.Dispose();
            throw new ControlException($"cannot connect to the control socket {socketPath}: permission denied (the data directory must be searchable by this user)", ex);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new ControlException($"cannot connect to the control socket {socketPath}: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new ControlException($"the server does not accept connections on {socketPath} (timed out)", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends one request and yields its response lines, ending after the final one (an error, or a result without
    /// <c>more</c>).
    /// </summary>
    /// <exception cref="ControlException">The connection broke, timed out or carried something that is not a response.</exception>
    public async IAsyncEnumerable<ControlResponse> SendAsync(string command, JsonObject? args = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await WriteRequestAsync(command, args, cancellationToken);
        while (true)
        {
            var response = await ReadResponseAsync(cancellationToken);
            yield return response;
            if (!response.More) yield break;
        }
    }

    /// <summary>Sends a request/response command and returns its single (final) line, whether ok or not.</summary>
    /// <exception cref="ControlException">The command streamed several lines, or the connection failed.</exception>
    public async Task<ControlResponse> RequestAsync(string command, JsonObject? args = null, CancellationToken cancellationToken = default)
    {
        await WriteRequestAsync(command, args, cancellationToken);
        var response = await ReadResponseAsync(cancellationToken);
        if (response.More) throw new ControlException($"'{command}' answers with several lines; read them with SendAsync");
        return response;
    }

    private async Task WriteRequestAsync(string command, JsonObject? args, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("command", command);
            if (args is not null)
            {
                writer.WritePropertyName("args");
                args.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        try
        {
            await _stream.WriteAsync(buffer.WrittenMemory, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new ControlException($"the server closed the control connection: {ex.Message}", ex);
        }
    }

    private async Task<ControlResponse> ReadResponseAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (ReadTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(ReadTimeout);
        try
        {
            while (true)
            {
                var read = await _reader.ReadAsync(timeout.Token);
                var buffer = read.Buffer;
                if (buffer.PositionOf((byte)'\n') is { } end)
                {
                    var line = buffer.Slice(0, end);
                    if (line.Length > MaxResponseLineBytes) throw new ControlException($"response line longer than {MaxResponseLineBytes} bytes");
                    var response = ControlResponse.Parse(line.IsSingleSegment ? line.FirstSpan : line.ToArray());
                    _reader.AdvanceTo(buffer.GetPosition(1, end));
                    return response;
                }
                if (buffer.Length > MaxResponseLineBytes) throw new ControlException($"response line longer than {MaxResponseLineBytes} bytes");
                if (read.IsCompleted) throw new ControlException("the server closed the control connection before it answered");
                _reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ControlException($"the server did not answer within {ReadTimeout.TotalSeconds:0} s", ex);
        }
        catch (IOException ex)
        {
            throw new ControlException($"the control connection broke: {ex.Message}", ex);
        }
    }

    /// <summary>Closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync();
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        await _stream.DisposeAsync();
    }
}
