// A ControlServer on a throw-away data directory with test handlers, plus a raw line client for malformed input.
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;

namespace Mta.Engine.Tests.Control;

internal sealed class ControlHarness : IAsyncDisposable
{
    private readonly TestDirectory _directory = new();
    private bool _started;

    public ControlHarness(Action<ControlServerOptions>? configure = null, IEnumerable<IControlCommandHandler>? extra = null, string? subdirectory = null)
    {
        DataDirectory = subdirectory is null ? _directory.Path : Path.Combine(_directory.Path, subdirectory);
        Paths = new MtaPaths(new MtaOptions { DataDirectory = DataDirectory });
        Options = new ControlServerOptions();
        configure?.Invoke(Options);
        Handlers =
        [
            new QueueListCommand(Queue), new QueueShowCommand(Queue), new QueueFlushCommand(Queue), new QueueDeleteCommand(Queue),
            new DelegateHandler("test.echo", (r, c, ct) => c.SendAsync(r.Args.ValueKind == JsonValueKind.Undefined ? null : JsonNode.Parse(r.Args.GetRawText()), ct)),
            new DelegateHandler("test.throw", (_, _, _) => throw new InvalidOperationException("handler bug")),
            new DelegateHandler("test.whoami", (_, c, ct) => c.SendAsync(c.Peer is { } p
                ? new JsonObject { ["pid"] = p.ProcessId, ["uid"] = p.UserId, ["gid"] = p.GroupId } : null, ct)),
            new DelegateHandler("test.silent", (_, _, _) => Task.CompletedTask),
            .. extra ?? [],
        ];
        Server = NewServer();
    }

    public string DataDirectory { get; }
    public MtaPaths Paths { get; }
    public ControlServerOptions Options { get; }
    public FakeQueueAdministration Queue { get; } = new();
    public List<IControlCommandHandler> Handlers { get; }
    public ControlServer Server { get; }
    public string SocketPath => Paths.ControlSocketPath;

    /// <summary>Another server over the same data directory and handlers.</summary>
    public ControlServer NewServer() => new(Paths, Handlers, NullLogger<ControlServer>.Instance, Options);

    public async Task<ControlHarness> StartAsync()
    {
        await Server.StartAsync(TestContext.Current.CancellationToken);
        _started = true;
        return this;
    }

    /// <summary>
    /// What a killed server leaves: a socket file nobody listens on. .NET unlinks a bound socket's file when the socket is
    /// disposed, so the file is renamed into place before that.
    /// </summary>
    public static void CreateStaleSocket(string path)
    {
        var temporary = path + ".tmp";
        using var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        dead.Bind(new UnixDomainSocketEndPoint(temporary));
        File.Move(temporary, path);
    }

    public Task<ControlClient> ConnectAsync() => ControlClient.ConnectAsync(SocketPath, TestContext.Current.CancellationToken);

    public async Task<RawLineClient> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), TestContext.Current.CancellationToken);
        return new RawLineClient(socket);
    }

    public async Task StopAsync()
    {
        if (!_started) return;
        _started = false;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Server.StopAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Server.Dispose();
        _directory.Dispose();
    }
}

/// <summary>A handler from a lambda.</summary>
internal sealed class DelegateHandler(string name, Func<ControlRequest, ControlConnection, CancellationToken, Task> handle) : IControlCommandHandler
{
    public string Name => name;
    /// <summary>Open to every local user, not only the server's own and root.</summary>
    public bool AnyUser { get; init; }
    public Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken) => handle(request, connection, cancellationToken);
}

/// <summary>Writes arbitrary bytes and reads reply lines, bounded by a timeout.</summary>
internal sealed class RawLineClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    public RawLineClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false));
    }

    public async Task WriteAsync(string text) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), TestContext.Current.CancellationToken);

    /// <summary>The next line, or null at end of stream.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(10));
        return await _reader.ReadLineAsync(cts.Token);
    }

    /// <summary>The next line parsed; fails the test at end of stream.</summary>
    public async Task<JsonElement> ReadJsonAsync()
    {
        var line = await ReadLineAsync();
        Assert.NotNull(line);
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
    }
}
