// Listens on every configured endpoint, enforces connection limits, and runs one session per connection.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Receiver;

public sealed partial class SmtpServer : IHostedService, IAsyncDisposable
{
    private readonly ReceiverContext _ctx;
    private readonly ILogger<SmtpServer> _logger;
    private readonly List<(ListenerOptions Options, Socket Socket)> _listeners = [];
    private readonly ConcurrentDictionary<SmtpSession, Task> _sessions = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perIp = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _acceptLoops = [];
    private int _connections;
    private volatile bool _stopping;

    public SmtpServer(ReceiverContext context, ILogger<SmtpServer> logger)
    {
        _ctx = context;
        _logger = logger;
    }

    /// <summary>The endpoints actually bound (useful when a listener asks for port 0).</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _listeners.Select(l => (IPEndPoint)l.Socket.LocalEndPoint!).ToArray();

    public int ActiveSessions => _sessions.Count;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Once, before any port opens: a bad certificate stops start-up instead of failing every handshake.
        if (_ctx.Options.Listeners.Any(l => l.Tls != ListenerTlsMode.None)) _ctx.Certificates.Load();
        foreach (var options in _ctx.Options.Listeners)
        {
            var address = IPAddress.Parse(options.Address);
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(new IPEndPoint(address, options.Port));
                socket.Listen(512);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                throw new StartupException($"Listeners: cannot listen on {options.Address}:{options.Port} ({options.Name}): {ex.Message}", ex);
            }
            _listeners.Add((options, socket));
            LogListening(options.Name, (IPEndPoint)socket.LocalEndPoint!);
        }
        foreach (var (options, socket) in _listeners)
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(options, socket)));
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync(ListenerOptions options, Socket listener)
    {
        while (!_abort.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_abort.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (e.g. out of descriptors) must not end the listener.
                LogAcceptFailed(ex, options.Name);
                await Task.Delay(100);
                continue;
            }
            _ = HandleConnectionAsync(options, client);
        }
    }

    private async Task HandleConnectionAsync(ListenerOptions options, Socket client)
    {
        client.NoDelay = true;
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var ip = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        var total = Interlocked.Increment(ref _connections);
        var fromIp = _perIp.AddOrUpdate(ip, 1, (_, n) => n + 1);
        try
        {
            if (total > _ctx.Options.Limits.MaxConnections || fromIp > _ctx.Options.Limits.MaxConnectionsPerIp)
            {
                LogTooManyConnections(remote, total, fromIp);
                await RefuseAsync(client, total > _ctx.Options.Limits.MaxConnections
                    ? "421 4.7.0 Too many connections, try again later\r\n"
                    : "421 4.7.0 Too many connections from your address, try again later\r\n");
                return;
            }
            await using var stream = new NetworkStream(client, ownsSocket: false);
            await using var session = new SmtpSession(_ctx, stream, options.Name, options.Tls, remote, (IPEndPoint)client.LocalEndPoint!,
                allowPlaintextAuth: options.AllowPlaintextAuth, role: options.Role, requireOwnSender: options.RequireOwnSender);
            // Registered before it runs, so a stop that comes at any moment finds it.
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _sessions[session] = finished.Task;
            if (_stopping) session.RequestStop();
            try
            {
                await session.RunAsync(_abort.Token);
            }
            finally
            {
                _sessions.TryRemove(session, out _);
                finished.SetResult();
            }
        }
        catch (Exception ex)
        {
            LogConnectionFailed(ex, remote);
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
            if (_perIp.AddOrUpdate(ip, 0, (_, n) => n - 1) <= 0) _perIp.TryRemove(new(ip, 0));
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            client.Dispose();
        }
    }

    private static async Task RefuseAsync(Socket client, string reply)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.SendAsync(Encoding.ASCII.GetBytes(reply), SocketFlags.None, cts.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Stops accepting, asks idle sessions to close with 421, and waits for sessions inside DATA to finish
    /// until <paramref name="cancellationToken"/> fires (the host's shutdown timeout); then aborts the rest.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        foreach (var (_, socket) in _listeners) socket.Dispose();
        foreach (var session in _sessions.Keys) session.RequestStop();
        try
        {
            await Task.WhenAll(_sessions.Values).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            LogDrainTimedOut(_sessions.Count);
            foreach (var session in _sessions.Keys) session.Abort();
        }
        catch (Exception)
        {
            // Session failures are logged by the sessions themselves.
        }
        await _abort.CancelAsync();
        try { await Task.WhenAll(_acceptLoops); } catch (Exception) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_abort.IsCancellationRequested) await _abort.CancelAsync();
        foreach (var (_, socket) in _listeners) socket.Dispose();
        _abort.Dispose();
    }

    [LoggerMessage(EventId = 250, Level = LogLevel.Information, Message = "listener {Name} on {EndPoint}")]
    private partial void LogListening(string name, IPEndPoint endPoint);

    [LoggerMessage(EventId = 251, Level = LogLevel.Warning, Message = "accept failed on listener {Name}")]
    private partial void LogAcceptFailed(Exception exception, string name);

    [LoggerMessage(EventId = 252, Level = LogLevel.Warning, Message = "refused {Remote}: too many connections (total {Total}, from this address {FromIp})")]
    private partial void LogTooManyConnections(IPEndPoint remote, int total, int fromIp);

    [LoggerMessage(EventId = 253, Level = LogLevel.Error, Message = "connection from {Remote} failed")]
    private partial void LogConnectionFailed(Exception exception, IPEndPoint remote);

    [LoggerMessage(EventId = 254, Level = LogLevel.Warning, Message = "shutdown: {Count} sessions still running were aborted")]
    private partial void LogDrainTimedOut(int count);
}
