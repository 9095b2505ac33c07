// The running server's local control channel: a Unix socket in the data directory, open to local users, serving newline-delimited JSON commands.
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Control;

/// <summary>
/// Listens on <see cref="MtaPaths.ControlSocketPath"/> and runs <see cref="IControlCommandHandler"/>s. Binding happens in
/// <see cref="StartAsync"/>, so a second server on the same data directory fails start-up with a <see cref="StartupException"/>.
/// On Linux the socket is mode 0666 (any local user may run <c>mta terminal</c>) and access is decided per command from the
/// peer's kernel credentials: a command that is not <see cref="IControlCommandHandler.AnyUser"/> serves only the server's
/// own uid and root. Elsewhere, without peer credentials, the socket stays 0600. Of the connection slots, some
/// (<see cref="ControlServerOptions.ReservedConnections"/>) serve only root and the server's own uid, so that other local
/// users cannot lock the operator out.
/// </summary>
public sealed partial class ControlServer : BackgroundService
{
    private readonly string _socketPath;
    private readonly string _dataDirectory;
    private readonly Dictionary<string, IControlCommandHandler> _handlers = new(StringComparer.Ordinal);
    private readonly ControlServerOptions _options;
    private readonly ILogger<ControlServer> _logger;
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly ConcurrentDictionary<uint, int> _perUser = new();
    private readonly uint? _ownUid = OwnUid();
    private Socket? _listener;
    private long _nextId;
    private int _active;
    private volatile bool _stopping;

    /// <summary>Creates the server; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="paths">Where the socket lives.</param>
    /// <param name="handlers">The commands served; names must be unique.</param>
    /// <param name="logger">The log.</param>
    /// <param name="options">Limits; defaults when null.</param>
    public ControlServer(MtaPaths paths, IEnumerable<IControlCommandHandler> handlers, ILogger<ControlServer> logger, ControlServerOptions? options = null)
    {
        _socketPath = paths.ControlSocketPath;
        _dataDirectory = paths.DataDirectory;
        _logger = logger;
        _options = options ?? new ControlServerOptions();
        foreach (var handler in handlers)
        {
            if (!_handlers.TryAdd(handler.Name, handler))
                throw new InvalidOperationException($"two control command handlers are named '{handler.Name}'");
        }
    }

    /// <summary>The socket's file mode: read and write for everyone on Linux (peer credentials decide), owner only elsewhere.</summary>
    public static UnixFileMode SocketMode => OperatingSystem.IsLinux()
        ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite
        : UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>True when <paramref name="peer"/> may run every command: it is root or the user the server runs as. Without
    /// credentials (not Linux) the socket is 0600, so whoever connected is one of them.</summary>
    public bool IsPrivileged(PeerCredentials? peer) =>
        peer is null ? !OperatingSystem.IsLinux() : peer.UserId == 0 || peer.UserId == _ownUid;

    /// <summary>The socket file this server listens on.</summary>
    public string SocketPath => _socketPath;

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>
    /// Creates the data directory, replaces a stale socket file, binds, sets the socket's mode (0666 where peer credentials
    /// decide access, 0600 elsewhere) and listens.
    /// </summary>
    /// <exception cref="StartupException">Another live server answers on the socket, or the socket cannot be created.</exception>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            Directory.CreateDirectory(_dataDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"DataDirectory: cannot create {_dataDirectory}: {ex.Message}", ex);
        }

        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(_socketPath);
        }
        catch (ArgumentException ex)
        {
            // sun_path holds about 107 bytes: a deep data directory cannot carry a socket.
            throw new StartupException($"DataDirectory: the control socket path {_socketPath} is too long for a Unix socket: {ex.Message}", ex);
        }

        if (File.Exists(_socketPath) || Directory.Exists(_socketPath))
        {
            if (await AnswersAsync(endPoint, cancellationToken))
                throw new StartupException($"another Mta is already running with data directory {_dataDirectory} (it answers on {_socketPath})");
            try
            {
                File.Delete(_socketPath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new StartupException($"cannot remove the stale control socket {_socketPath}: {ex.Message}", ex);
            }
            LogRemovedStale(_socketPath);
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var bound = false;
        try
        {
            socket.Bind(endPoint);
            bound = true;
            // Set before Listen: until then a connect is refused, so no one slips in under a wrong mode. Open to all only
            // where the kernel names each peer (SO_PEERCRED), so that every command can tell who asks.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_socketPath, SocketMode);
            socket.Listen(64);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            // Another server bound it between our probe and our bind.
            socket.Dispose();
            throw new StartupException($"another Mta is already running with data directory {_dataDirectory} (it holds {_socketPath})", ex);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            socket.Dispose();
            if (bound) TryDeleteSocketFile();
            throw new StartupException($"cannot listen on the control socket {_socketPath}: {ex.Message}", ex);
        }
        _listener = socket;
        LogListening(_socketPath);
        await base.StartAsync(cancellationToken);
    }

    // A socket file that refuses a connection is left over from a server that died; one that accepts belongs to a live one.
    private static async Task<bool> AnswersAsync(UnixDomainSocketEndPoint endPoint, CancellationToken cancellationToken)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await probe.ConnectAsync(endPoint, timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A server so busy its backlog is full is still alive: never take its socket away.
            return true;
        }
    }

    /// <summary>Accepts connections until the host stops, then waits for the connections to end.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listener = _listener ?? throw new InvalidOperationException("StartAsync binds the socket first");
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || (ex is SocketException && _stopping))
            {
                break;
            }
            catch (SocketException ex)
            {
                // Transient (e.g. out of descriptors): the control channel must outlive it.
                LogAcceptFailed(ex);
                try { await Task.Delay(100, stoppingToken); } catch (OperationCanceledException) { break; }
                continue;
            }
            var id = Interlocked.Increment(ref _nextId);
            var task = Task.Run(() => ServeAsync(client, id, stoppingToken), CancellationToken.None);
            _connections[id] = task;
            // Registered after the add, so the removal can never run first and leave the entry behind.
            _ = task.ContinueWith(_ => _connections.TryRemove(id, out Task? _), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        // Handlers see stoppingToken; each connection ends promptly.
        try { await Task.WhenAll(_connections.Values); } catch (Exception) { }
    }

    private async Task ServeAsync(Socket socket, long id, CancellationToken stoppingToken)
    {
        var admitted = false;
        uint? counted = null;
        try
        {
            await using var connection = new ControlConnection(socket, id, _options, stoppingToken);
            // Decided on the kernel's credentials before the slot is taken, so the operator's reserve is never used up
            // by others, and a refused connection never holds a slot while it is told so.
            var privileged = IsPrivileged(connection.Peer);
            admitted = TryTakeSlot(privileged, out var active);
            if (!admitted)
            {
                LogBusy(id, active, privileged);
                connection.BeginResponse();
                await connection.SendErrorAsync(privileged
                        ? $"too many control connections (limit {_options.MaxConnections}); try again later"
                        : $"too many control connections (limit {_options.MaxConnections - _options.ReservedConnections} for other users; " +
                          $"{_options.ReservedConnections} kept for root and the server's own user); try again later",
                    ControlErrorCodes.Busy, stoppingToken);
                return;
            }
            if (connection.Peer is { } peer && !IsPrivileged(peer))
            {
                counted = peer.UserId;
                var mine = _perUser.AddOrUpdate(peer.UserId, 1, (_, n) => n + 1);
                if (mine > _options.MaxConnectionsPerUser)
                {
                    LogBusyUser(id, peer.UserId, mine - 1);
                    connection.BeginResponse();
                    await connection.SendErrorAsync($"too many control connections from uid {peer.UserId} (limit {_options.MaxConnectionsPerUser}); try again later",
                        ControlErrorCodes.Busy, stoppingToken);
                    return;
                }
            }
            LogConnected(id, connection.Peer?.ProcessId, connection.Peer?.UserId);
            while (!stoppingToken.IsCancellationRequested)
            {
                ControlRequest? request;
                try
                {
                    request = await connection.ReadRequestAsync(_options.IdleTimeout, stoppingToken);
                }
                catch (ControlCommandException ex)
                {
                    // Malformed or over-long: answered, and the connection reads the next line.
                    LogBadRequest(id, ex.Message);
                    connection.BeginResponse();
                    await connection.SendErrorAsync(ex.Message, ex.Code, stoppingToken);
                    continue;
                }
                catch (TimeoutException)
                {
                    LogIdle(id);
                    return;
                }
                if (request is null) return;
                await DispatchAsync(connection, request, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away mid-response or stopped reading (a cancellation here, with the server running, is a
            // handler giving up on such a connection): its loss alone.
            LogConnectionLost(id, ex.Message);
        }
        catch (Exception ex)
        {
            LogConnectionFailed(ex, id);
        }
        finally
        {
            if (admitted) Interlocked.Decrement(ref _active);
            if (counted is { } uid)
            {
                // Entries at zero are removed so a machine's many one-off users leave nothing behind.
                if (_perUser.AddOrUpdate(uid, 0, (_, n) => n - 1) <= 0) _perUser.TryRemove(new KeyValuePair<uint, int>(uid, 0));
            }
        }
    }

    /// <summary>Takes a connection slot unless the limit for this kind of peer is reached: root and the server's own uid
    /// may use all <see cref="ControlServerOptions.MaxConnections"/>, others all but the
    /// <see cref="ControlServerOptions.ReservedConnections"/>.</summary>
    /// <param name="privileged">The peer is root or the server's own user.</param>
    /// <param name="active">Connections served when the decision was made.</param>
    private bool TryTakeSlot(bool privileged, out int active)
    {
        var limit = privileged ? _options.MaxConnections : _options.MaxConnections - _options.ReservedConnections;
        while (true)
        {
            active = Volatile.Read(ref _active);
            if (active >= limit) return false;
            if (Interlocked.CompareExchange(ref _active, active + 1, active) == active) return true;
        }
    }

    private async Task DispatchAsync(ControlConnection connection, ControlRequest request, CancellationToken stoppingToken)
    {
        connection.BeginResponse();
        if (!_handlers.TryGetValue(request.Command, out var handler))
        {
            LogUnknownCommand(connection.Id, request.Command);
            await connection.SendErrorAsync($"unknown command '{request.Command}'", ControlErrorCodes.UnknownCommand, stoppingToken);
            return;
        }
        LogCommand(connection.Id, request.Command);
        if (!handler.AnyUser && !IsPrivileged(connection.Peer))
        {
            LogForbidden(connection.Id, request.Command, connection.Peer?.UserId);
            await connection.SendErrorAsync($"'{request.Command}' is only for the user the server runs as{(_ownUid is { } own ? $" (uid {own})" : "")} and root",
                ControlErrorCodes.Forbidden, stoppingToken);
            return;
        }
        try
        {
            await handler.HandleAsync(request, connection, connection.Aborted);
            if (!connection.ResponseComplete) await connection.SendAsync(null, stoppingToken);
        }
        catch (ControlCommandException ex) when (!connection.IsBroken)
        {
            if (!connection.ResponseComplete) await connection.SendErrorAsync(ex.Message, ex.Code, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested || connection.IsBroken)
        {
            throw;
        }
        catch (Exception ex) when (!connection.IsBroken)
        {
            // A bug in one command is that command's failure: the operator sees it, the server goes on.
            LogHandlerFailed(ex, request.Command, connection.Id);
            if (!connection.ResponseComplete)
                await connection.SendErrorAsync($"{request.Command} failed: {ex.Message}", ControlErrorCodes.Internal, stoppingToken);
        }
    }

    /// <summary>Stops accepting, ends the connections (handlers see cancellation), and deletes the socket file.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        _listener?.Dispose();
        try
        {
            await base.StopAsync(cancellationToken);
        }
        finally
        {
            if (_listener is not null)
            {
                TryDeleteSocketFile();
                LogStopped(_socketPath);
            }
        }
    }

    private void TryDeleteSocketFile()
    {
        try { File.Delete(_socketPath); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { LogDeleteFailed(_socketPath, ex.Message); }
    }

    /// <summary>Releases the listening socket.</summary>
    public override void Dispose()
    {
        _listener?.Dispose();
        base.Dispose();
    }

    // The effective uid, for IsPrivileged; null where it cannot be known (then only the 0600 socket protects).
    private static uint? OwnUid()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return geteuid();
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    [LoggerMessage(EventId = LogEvents.Control.Listening, Level = LogLevel.Information, Message = "control socket listening on {Path}")]
    private partial void LogListening(string path);

    [LoggerMessage(EventId = LogEvents.Control.RemovedStale, Level = LogLevel.Warning, Message = "removed stale control socket {Path} (no server answered on it)")]
    private partial void LogRemovedStale(string path);

    [LoggerMessage(EventId = LogEvents.Control.AcceptFailed, Level = LogLevel.Warning, Message = "control socket accept failed")]
    private partial void LogAcceptFailed(Exception exception);

    [LoggerMessage(EventId = LogEvents.Control.Connected, Level = LogLevel.Debug, Message = "control connection {Id} from pid {Pid} uid {Uid}")]
    private partial void LogConnected(long id, int? pid, uint? uid);

    [LoggerMessage(EventId = LogEvents.Control.Busy, Level = LogLevel.Warning, Message = "control connection {Id} refused: {Active} connections already served (privileged peer: {Privileged})")]
    private partial void LogBusy(long id, int active, bool privileged);

    [LoggerMessage(EventId = LogEvents.Control.Command, Level = LogLevel.Debug, Message = "control connection {Id}: {Command}")]
    private partial void LogCommand(long id, string command);

    [LoggerMessage(EventId = LogEvents.Control.BadRequest, Level = LogLevel.Information, Message = "control connection {Id}: bad request: {Reason}")]
    private partial void LogBadRequest(long id, string reason);

    [LoggerMessage(EventId = LogEvents.Control.UnknownCommand, Level = LogLevel.Information, Message = "control connection {Id}: unknown command {Command}")]
    private partial void LogUnknownCommand(long id, string command);

    [LoggerMessage(EventId = LogEvents.Control.HandlerFailed, Level = LogLevel.Error, Message = "control command {Command} failed on connection {Id}")]
    private partial void LogHandlerFailed(Exception exception, string command, long id);

    [LoggerMessage(EventId = LogEvents.Control.Idle, Level = LogLevel.Debug, Message = "control connection {Id} closed after the idle timeout")]
    private partial void LogIdle(long id);

    [LoggerMessage(EventId = LogEvents.Control.ConnectionLost, Level = LogLevel.Debug, Message = "control connection {Id} lost: {Reason}")]
    private partial void LogConnectionLost(long id, string reason);

    [LoggerMessage(EventId = LogEvents.Control.ConnectionFailed, Level = LogLevel.Error, Message = "control connection {Id} failed")]
    private partial void LogConnectionFailed(Exception exception, long id);

    [LoggerMessage(EventId = LogEvents.Control.Stopped, Level = LogLevel.Information, Message = "control socket {Path} closed")]
    private partial void LogStopped(string path);

    [LoggerMessage(EventId = LogEvents.Control.DeleteFailed, Level = LogLevel.Warning, Message = "cannot delete control socket {Path}: {Reason}")]
    private partial void LogDeleteFailed(string path, string reason);

    [LoggerMessage(EventId = LogEvents.Control.BusyUser, Level = LogLevel.Warning, Message = "control connection {Id} refused: uid {Uid} already has {Active} connections")]
    private partial void LogBusyUser(long id, uint uid, int active);

    [LoggerMessage(EventId = LogEvents.Control.Forbidden, Level = LogLevel.Information, Message = "control connection {Id}: {Command} refused to uid {Uid}")]
    private partial void LogForbidden(long id, string command, uint? uid);
}
