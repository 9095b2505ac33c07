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
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _acceptLoops = [];
    private readonly byte[] _serverFull;
    private static readonly byte[] TooManyFromAddress = Encoding.ASCII.GetBytes("421 4.7.0 Too many connections from your address, try again later\r\n");
    private volatile bool _stopping;

    public SmtpServer(ReceiverContext context, ILogger<SmtpServer> logger)
    {
        _ctx = context;
        _logger = logger;
        _serverFull = Encoding.ASCII.GetBytes($"421 4.3.2 {context.Options.HostName} Service not available, too many connections, try again later\r\n");
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
        var proxy = ProxySettings.For(options);
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
            catch (SocketException) when (_stopping || _abort.IsCancellationRequested)
            {
                // Closing the listener at shutdown fails the pending accept (ECANCELED / aborted): that is the stop.
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (e.g. out of descriptors) must not end the listener.
                LogAcceptFailed(ex, options.Name);
                await Task.Delay(100);
                continue;
            }
            _ = HandleConnectionAsync(options, proxy, client);
        }
    }

    private async Task HandleConnectionAsync(ListenerOptions options, ProxySettings? proxy, Socket client)
    {
        client.NoDelay = true;
        var peer = ClientAddress.Canonical((IPEndPoint)client.RemoteEndPoint!);
        var remote = peer;
        var local = (IPEndPoint)client.LocalEndPoint!;
        var admission = _ctx.Admission;
        IPAddress? counted = null;
        var slot = false;
        try
        {
            // Without a proxy the client is known at once: one over its per-address limit is refused before it takes a
            // slot, so a flood of refusals never makes the server look full to anyone else.
            if (proxy is null && !await AdmitAddressAsync(client, options.Name, remote, out counted)) return;
            // Every refusal is answered at once: a full server answers in microseconds, not after a timeout.
            slot = admission.TryTakeSlot();
            if (!slot)
            {
                admission.NoteRefusal(remote, serverFull: true);
                _ctx.Metrics?.ConnectionRefused(options.Name, "server_full");
                await RefuseAsync(client, _serverFull);
                return;
            }
            if (proxy is not null)
            {
                // Only a trusted proxy may name the client; anyone else could claim any address. Nothing is sent back:
                // the other side speaks PROXY, not SMTP.
                if (!proxy.Networks.Contains(peer.Address))
                {
                    LogProxyNotTrusted(options.Name, peer);
                    _ctx.Metrics?.ConnectionRefused(options.Name, "proxy");
                    return;
                }
                var (header, error) = await ProxyHeaderReader.ReadAsync(client, proxy.Versions, proxy.Timeout, _ctx.Time, _abort.Token);
                if (header is null)
                {
                    LogProxyHeaderRefused(options.Name, peer, error ?? "no header");
                    _ctx.Metrics?.ConnectionRefused(options.Name, "proxy");
                    return;
                }
                // LOCAL (a health check) and UNKNOWN carry no client: the proxy's own connection is the session's.
                if (header.Source is { } source && header.Destination is { } destination)
                {
                    remote = ClientAddress.Canonical(source);
                    local = ClientAddress.Canonical(destination);
                }
                LogProxied(options.Name, peer, remote, header.Version);
                // Counted per client after the PROXY header: per proxy, every client behind a load balancer would share one count.
                if (!await AdmitAddressAsync(client, options.Name, remote, out counted)) return;
            }
            await using var stream = new NetworkStream(client, ownsSocket: false);
            _ctx.Metrics?.ConnectionOpened(options.Name);
            try
            {
                await RunSessionAsync(stream, remote, local, options, null, _abort.Token);
            }
            finally
            {
                _ctx.Metrics?.ConnectionClosed(options.Name);
            }
        }
        catch (Exception ex)
        {
            LogConnectionFailed(ex, remote);
        }
        finally
        {
            if (counted is not null) admission.ReleaseAddress(counted);
            if (slot) admission.ReleaseSlot();
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            client.Dispose();
        }
    }

    /// <summary>Counts the connection against its address's limit; refuses it with 421 4.7.0 when over.</summary>
    private ValueTask<bool> AdmitAddressAsync(Socket client, string listener, IPEndPoint remote, out IPAddress? counted)
    {
        if (_ctx.Admission.TryAdmitAddress(remote.Address, out counted, out _) != AddressAdmission.TooMany) return ValueTask.FromResult(true);
        _ctx.Admission.NoteRefusal(remote, serverFull: false);
        _ctx.Metrics?.ConnectionRefused(listener, "address_limit");
        return RefusedAsync(client);

        static async ValueTask<bool> RefusedAsync(Socket client)
        {
            await RefuseAsync(client, TooManyFromAddress);
            return false;
        }
    }

    /// <summary>
    /// Runs one receiving session over a connection that is already open: the session sends its 220 greeting first and
    /// goes on as on <paramref name="listener"/> until the other side QUITs or the connection ends. This is how
    /// <c>mta turn</c> receives after the other server accepted its TURN. The connection limits do not apply; the
    /// caller owns <paramref name="stream"/> and closes it afterwards.
    /// </summary>
    /// <param name="stream">The connection (already inside TLS, if any; the session does not offer STARTTLS unless
    /// <paramref name="listener"/> asks for it).</param>
    /// <param name="remote">The other side, as hooks and the Received field see it.</param>
    /// <param name="local">This side's endpoint.</param>
    /// <param name="listener">The settings the session takes from a listener: name, TLS mode, role, AUTH.</param>
    /// <param name="acceptDomains">Recipients in these domains are accepted although not local (the domains a TURN
    /// asked for: their mail is for this site, which routes it on); null or empty for none.</param>
    /// <param name="cancellationToken">Ends the session at once.</param>
    /// <param name="authenticatedUser">The session starts authenticated as this user (the maildrop's pickup speaks for
    /// the local Unix user who wrote the file); null for none.</param>
    /// <returns>How many messages the session accepted, and why it ended.</returns>
    public async Task<ServedSession> ServeAsync(Stream stream, IPEndPoint remote, IPEndPoint local, ListenerOptions listener,
        IReadOnlyCollection<string>? acceptDomains, CancellationToken cancellationToken, string? authenticatedUser = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(listener);
        if (listener.Tls != ListenerTlsMode.None) _ctx.Certificates.Load();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abort.Token);
        LogServing(listener.Name, remote);
        return await RunSessionAsync(stream, remote, local, listener, acceptDomains, linked.Token, authenticatedUser);
    }

    /// <summary>The one session code path of accepted and handed-in connections.</summary>
    private async Task<ServedSession> RunSessionAsync(Stream stream, IPEndPoint remote, IPEndPoint local, ListenerOptions options,
        IReadOnlyCollection<string>? acceptDomains, CancellationToken aborted, string? authenticatedUser = null)
    {
        // Disposed after the session (declared first): the session's last words are flushed through it.
        await using var connection = new SmtpConnection(_ctx, stream);
        await using var session = new SmtpSession(_ctx, connection, options.Name, options.Tls, ClientAddress.Canonical(remote), local,
            allowPlaintextAuth: options.AllowPlaintextAuth, role: options.Role, requireOwnSender: options.RequireOwnSender,
            allowTurn: options.AllowTurn, acceptDomains: acceptDomains, authenticatedUser: authenticatedUser);
        // Registered before it runs, so a stop that comes at any moment finds it.
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = finished.Task;
        if (_stopping) session.RequestStop();
        try
        {
            await session.RunAsync(aborted);
        }
        finally
        {
            _sessions.TryRemove(session, out _);
            finished.SetResult();
        }
        return new ServedSession(session.MessagesAccepted, session.CloseReason);
    }

    private static async Task RefuseAsync(Socket client, byte[] reply)
    {
        try
        {
            // One small segment into an empty send buffer: it completes at once unless the peer is gone.
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.SendAsync(reply, SocketFlags.None, cts.Token);
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

    [LoggerMessage(EventId = LogEvents.Receiver.Listening, Level = LogLevel.Information, Message = "listener {Name} on {EndPoint}")]
    private partial void LogListening(string name, IPEndPoint endPoint);

    [LoggerMessage(EventId = LogEvents.Receiver.AcceptFailed, Level = LogLevel.Warning, Message = "accept failed on listener {Name}")]
    private partial void LogAcceptFailed(Exception exception, string name);

    [LoggerMessage(EventId = LogEvents.Receiver.ConnectionFailed, Level = LogLevel.Error, Message = "connection from {Remote} failed")]
    private partial void LogConnectionFailed(Exception exception, IPEndPoint remote);

    [LoggerMessage(EventId = LogEvents.Receiver.DrainTimedOut, Level = LogLevel.Warning, Message = "shutdown: {Count} sessions still running were aborted")]
    private partial void LogDrainTimedOut(int count);

    [LoggerMessage(EventId = LogEvents.Receiver.ProxyNotTrusted, Level = LogLevel.Warning, Message = "listener {Name}: closed the connection from {Peer}: not in ProxyNetworks")]
    private partial void LogProxyNotTrusted(string name, IPEndPoint peer);

    [LoggerMessage(EventId = LogEvents.Receiver.ProxyHeaderRefused, Level = LogLevel.Warning, Message = "listener {Name}: closed the connection from proxy {Peer}: {Reason}")]
    private partial void LogProxyHeaderRefused(string name, IPEndPoint peer, string reason);

    [LoggerMessage(EventId = LogEvents.Receiver.Proxied, Level = LogLevel.Debug, Message = "listener {Name}: proxy {Peer} gives client {Client} (PROXY v{Version})")]
    private partial void LogProxied(string name, IPEndPoint peer, IPEndPoint client, int version);

    [LoggerMessage(EventId = LogEvents.Receiver.HandedInConnection, Level = LogLevel.Information, Message = "serving a handed-in connection with {Remote} as listener {Name}")]
    private partial void LogServing(string name, IPEndPoint remote);
}

/// <summary>What became of a session run by <see cref="SmtpServer.ServeAsync"/>.</summary>
/// <param name="MessagesAccepted">Messages accepted (2xx after the final dot).</param>
/// <param name="CloseReason">Why it ended: <c>quit</c>, <c>timeout</c>, <c>client closed</c>, <c>connection lost</c>, ...</param>
public sealed record ServedSession(int MessagesAccepted, string CloseReason);
