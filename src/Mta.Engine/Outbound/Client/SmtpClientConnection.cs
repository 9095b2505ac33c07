// The sending side of one SMTP connection: connect, greeting, EHLO, STARTTLS, AUTH, and the reply/timeout plumbing.
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Protocol;
using Mta.Protocol.Client;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Outbound.Client;

/// <summary>
/// One SMTP client connection to one <see cref="SmtpTarget"/>, opened with <see cref="OpenAsync"/> (greeting, EHLO,
/// STARTTLS and AUTH done) and then used for one or more transactions with <see cref="SendAsync"/>. Not thread-safe:
/// one caller at a time. Every wait for the server is bounded by the matching RFC 5321 4.5.3.2 timeout in
/// <see cref="ConnectionSettings.Timeouts"/>; a timeout, an I/O error, a 421 or a malformed reply makes the
/// connection unusable (<see cref="IsUsable"/>) for good.
/// </summary>
public sealed partial class SmtpClientConnection : IAsyncDisposable
{
    // Postfix waits 300 s for the QUIT reply; nothing depends on it, so a closing connection must not hold a worker.
    private static readonly TimeSpan QuitBound = TimeSpan.FromSeconds(5);

    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    // Null for a connection over a stream someone else opened (TURN): then _network is that stream, owned from now on.
    private readonly Socket? _socket;
    private readonly Stream _network;
    private readonly string _host;
    private SslStream? _ssl;
    private PipeReader _reader;
    private PipeWriter _writer;
    private State _state = State.Open;
    private bool _transactionStarted;
    private int _disposed;

    private enum State
    {
        /// <summary>In step with the server, no transaction pending.</summary>
        Open,
        /// <summary>In step with the server but not to be used for mail (a refused greeting or EHLO, failed AUTH or RSET):
        /// QUIT is still polite.</summary>
        Unusable,
        /// <summary>Out of step or gone (I/O error, timeout, 421, malformed reply, abandoned mid-command): just close.</summary>
        Broken,
        /// <summary>TURN was accepted: the other side is the client now; the stream is someone else's to use, then close.</summary>
        Reversed,
    }

    private SmtpClientConnection(SmtpTarget target, ConnectionSettings settings, ILogger logger, Socket? socket, Stream stream)
    {
        Target = target;
        _settings = settings;
        _logger = logger;
        _socket = socket;
        _host = target.SocketPath is null ? $"{target.HostName}[{target.Address}]" : "unix:" + target.SocketPath;
        _network = stream;
        (_reader, _writer) = CreatePipes(_network);
    }

    /// <summary>The host, address and port this connection goes to.</summary>
    public SmtpTarget Target { get; }

    /// <summary>What the server offers: from the last EHLO (the one after STARTTLS when TLS is on), or
    /// <see cref="EhloCapabilities.None"/> after a fall back to HELO.</summary>
    public EhloCapabilities Capabilities { get; private set; } = EhloCapabilities.None;

    /// <summary>The negotiated TLS protocol and cipher, or null in clear text.</summary>
    public TlsInfo? Tls { get; private set; }

    /// <summary>Transactions attempted on this connection: those where MAIL FROM was sent.</summary>
    public int TransactionCount { get; private set; }

    /// <summary>True while the connection can carry another transaction (after <see cref="ResetAsync"/> if the
    /// previous one did not end cleanly). False for good after any I/O error, timeout, 421, or protocol desync.</summary>
    public bool IsUsable => _state == State.Open && Volatile.Read(ref _disposed) == 0;

    /// <summary>After a TURN the server accepted (<see cref="TurnAsync"/>): the connection, now to be served as the
    /// receiving side. Null otherwise. It stays valid until this connection is disposed.</summary>
    public Stream? ReversedStream => _state == State.Reversed ? (Stream?)_ssl ?? _network : null;

    /// <summary>This side's address and port of the connection, or null when it is not known (a handed-in stream).</summary>
    public IPEndPoint? LocalEndPoint
    {
        get
        {
            try { return _socket?.LocalEndPoint as IPEndPoint; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return null; }
        }
    }

    /// <summary>
    /// Connects to <paramref name="target"/>, reads the greeting, says EHLO (HELO when EHLO is refused with 5xx),
    /// negotiates STARTTLS as <see cref="ConnectionSettings.Tls"/> asks and authenticates when
    /// <see cref="ConnectionSettings.UserName"/> is set.
    /// </summary>
    /// <exception cref="SmtpSessionException">Any failure: refused or timed-out connect, a non-2xx greeting, a refused
    /// EHLO and HELO, TLS required but not offered or failing, AUTH refused or impossible. Its stage says where.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled.</exception>
    public static async Task<SmtpClientConnection> OpenAsync(SmtpTarget target, ConnectionSettings settings, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        var socket = await ConnectAsync(target, settings.Timeouts.Connect, ct).ConfigureAwait(false);
        return await StartAsync(new SmtpClientConnection(target, settings, logger, socket, new NetworkStream(socket, ownsSocket: false)), ct)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a client session over <paramref name="stream"/>, a connection that is already open (the roles of a TURN
    /// connection were just reversed): reads the greeting and goes on as <see cref="OpenAsync"/> does after connecting.
    /// A stream that is an <see cref="SslStream"/> counts as TLS already (no STARTTLS inside it). The connection owns
    /// the stream from now on and disposes it when it is disposed (the socket under it stays its opener's).
    /// </summary>
    /// <param name="stream">The open connection, nothing of the new session read from it yet.</param>
    /// <param name="target">The other side, for logs and results (its port may be the client's).</param>
    /// <param name="settings">EHLO name, TLS policy, AUTH, timeouts; the greeting timeout bounds the wait for the 220.</param>
    /// <param name="logger">The log.</param>
    /// <param name="ct">Cancels the handshake.</param>
    /// <exception cref="SmtpSessionException">As <see cref="OpenAsync"/>, the connect stage aside.</exception>
    internal static Task<SmtpClientConnection> OverStreamAsync(Stream stream, SmtpTarget target, ConnectionSettings settings, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        var connection = new SmtpClientConnection(target, settings, logger, null, stream);
        if (stream is SslStream ssl) connection.Tls = new TlsInfo(ProtocolName(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        return StartAsync(connection, ct);
    }

    /// <summary>The handshake of a new connection; on failure the connection is logged, disposed and the error rethrown.</summary>
    private static async Task<SmtpClientConnection> StartAsync(SmtpClientConnection connection, CancellationToken ct)
    {
        try
        {
            await connection.HandshakeAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch (SmtpSessionException e)
        {
            connection.LogSessionFailed(connection._host, e.Stage, e.Message);
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Sends TURN (RFC 821 4.1.1) and returns the server's reply. On 250 the roles are reversed: this side must now act
    /// as the receiver on <see cref="ReversedStream"/> (send a 220 greeting first), the connection is no longer usable
    /// as a client, and disposing it closes the connection without QUIT. Any other reply leaves it as it was.
    /// </summary>
    /// <exception cref="SmtpSessionException">The connection failed or timed out, or the server sent more than its reply.</exception>
    /// <exception cref="InvalidOperationException">The connection is not usable (<see cref="IsUsable"/>).</exception>
    public async Task<SmtpReply> TurnAsync(CancellationToken ct)
    {
        if (!IsUsable) throw new InvalidOperationException($"the connection to {_host} is not usable");
        // TURN belongs to the handshake (no transaction may be open), so its failures carry that stage.
        var timeout = _settings.Timeouts.Command;
        Append("TURN\r\n");
        await FlushAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
        if (reply.Code != 250) return reply;
        // After its 250 the server waits for our greeting; bytes already here were sent out of turn, and would be read
        // by the new session as if they were commands.
        if (_reader.TryRead(out var pending))
        {
            var early = !pending.Buffer.IsEmpty;
            _reader.AdvanceTo(pending.Buffer.Start);
            if (early)
            {
                _state = State.Broken;
                throw new SmtpSessionException($"protocol error: {_host} sent data after its TURN reply", SessionStage.Ehlo, reply);
            }
        }
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        _state = State.Reversed;
        return reply;
    }

    /// <summary>Says QUIT (bounded to 5 s, skipped when the connection is broken or reversed by TURN) and closes. Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_state is State.Open or State.Unusable)
        {
            try
            {
                Append(ClientCommands.Quit);
                await FlushAsync(SessionStage.Quit, QuitBound, CancellationToken.None).ConfigureAwait(false);
                // Waiting for 221 lets the server close first, as RFC 5321 4.1.1.10 asks.
                await ReadReplyAsync(SessionStage.Quit, QuitBound, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogQuitFailed(_host, e.Message);
            }
        }
        // The socket goes first: completing a writer with unsent bytes flushes them, which must fail at once rather
        // than wait for a server that stopped reading. Over a stream we did not open, closing the stream does that.
        if (_socket is not null)
        {
            try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* already gone */ }
            _socket.Dispose();
        }
        else
        {
            try { await _network.DisposeAsync().ConfigureAwait(false); } catch (Exception) { /* already gone */ }
        }
        try { await _reader.CompleteAsync().ConfigureAwait(false); } catch (Exception) { /* closed anyway */ }
        try { await _writer.CompleteAsync().ConfigureAwait(false); } catch (Exception) { /* closed anyway */ }
        try
        {
            if (_ssl is not null) await _ssl.DisposeAsync().ConfigureAwait(false);
            await _network.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Disposal of a dead stream may complain; there is nothing left to do about it.
        }
        LogClosed(_host);
    }

    private static async Task<Socket> ConnectAsync(SmtpTarget target, TimeSpan timeout, CancellationToken ct)
    {
        Socket socket;
        try
        {
            socket = target.SocketPath is null
                ? new Socket(target.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
                : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }
        catch (SocketException ex)
        {
            // E.g. an IPv6 address on a host without IPv6: this address is unusable, the next MX host may not be.
            throw new SmtpSessionException($"connect to {target}: {ex.Message}", SessionStage.Connect, inner: ex);
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            EndPoint endPoint = target.SocketPath is null ? new IPEndPoint(target.Address, target.Port) : new UnixDomainSocketEndPoint(target.SocketPath);
            await socket.ConnectAsync(endPoint, cts.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SmtpSessionException($"connect to {target}: timed out after {Seconds(timeout)}", SessionStage.Connect);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SmtpSessionException($"connect to {target}: {e.Message}", SessionStage.Connect, inner: e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task HandshakeAsync(CancellationToken ct)
    {
        var timeouts = _settings.Timeouts;
        var greeting = await ReadReplyAsync(SessionStage.Greeting, timeouts.Greeting, ct).ConfigureAwait(false);
        if (greeting.Code is < 200 or >= 300)
            throw Refused(SessionStage.Greeting, greeting, $"host {_host} refused to talk to us: {Describe(greeting)}");
        LogConnected(_host, Describe(greeting));

        Capabilities = await EhloAsync(allowHelo: true, ct).ConfigureAwait(false);

        var tls = _settings.Tls;
        if (tls != OutboundTlsPolicy.None && Tls is null)
        {
            if (Capabilities.StartTls)
            {
                await StartTlsAsync(verify: tls == OutboundTlsPolicy.Verify, ct).ConfigureAwait(false);
                // RFC 3207 4.2: what the server said before TLS is forgotten; only the new EHLO counts.
                Capabilities = await EhloAsync(allowHelo: false, ct).ConfigureAwait(false);
            }
            else if (tls is OutboundTlsPolicy.Encrypt or OutboundTlsPolicy.Verify)
            {
                _state = State.Unusable;
                throw new SmtpSessionException(
                    $"TLS is required for this destination but {_host} does not offer STARTTLS", SessionStage.StartTls);
            }
        }

        if (!string.IsNullOrEmpty(_settings.UserName))
            await AuthenticateAsync(_settings.UserName, _settings.Password ?? string.Empty, ct).ConfigureAwait(false);
    }

    private async Task<EhloCapabilities> EhloAsync(bool allowHelo, CancellationToken ct)
    {
        var timeout = _settings.Timeouts.Command;
        Append(_settings.Lmtp ? ClientCommands.Lhlo(_settings.HeloName) : ClientCommands.Ehlo(_settings.HeloName));
        await FlushAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
        if (reply.Code is >= 200 and < 300) return EhloCapabilities.Parse(reply);

        // A server that does not know EHLO answers 500/502 (RFC 5321 4.1.4); 421 means it is going away. LMTP has no
        // HELO to fall back to (RFC 2033 4.1).
        if (allowHelo && reply.IsPermanent && !_settings.Lmtp)
        {
            LogHeloFallback(_host, Describe(reply));
            Append(ClientCommands.Helo(_settings.HeloName));
            await FlushAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
            var helo = await ReadReplyAsync(SessionStage.Ehlo, timeout, ct).ConfigureAwait(false);
            if (helo.Code is >= 200 and < 300) return EhloCapabilities.None;
            throw Refused(SessionStage.Ehlo, helo, $"host {_host} refused to talk to us: {Describe(helo)} (in reply to HELO command)");
        }
        throw Refused(SessionStage.Ehlo, reply, $"host {_host} refused to talk to us: {Describe(reply)} (in reply to {(_settings.Lmtp ? "LHLO" : "EHLO")} command)");
    }

    private async Task StartTlsAsync(bool verify, CancellationToken ct)
    {
        var timeout = _settings.Timeouts.Command;
        Append(ClientCommands.StartTls);
        await FlushAsync(SessionStage.StartTls, timeout, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(SessionStage.StartTls, timeout, ct).ConfigureAwait(false);
        if (reply.Code != 220)
            throw Refused(SessionStage.StartTls, reply, $"host {_host} said: {Describe(reply)} (in reply to STARTTLS command)");

        // Bytes already received after the 220 were sent in clear text and would be read as if protected
        // (the STARTTLS injection attacks, CVE-2011-0411 and kin): refuse to go on.
        if (_reader.TryRead(out var pending))
        {
            var injected = !pending.Buffer.IsEmpty;
            _reader.AdvanceTo(pending.Buffer.Start);
            if (injected)
            {
                _state = State.Broken;
                throw new SmtpSessionException($"protocol error: {_host} sent data after its STARTTLS reply", SessionStage.StartTls, reply);
            }
        }

        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        _ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = Target.HostName,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            // As Postfix: revocation is not checked (no CRL/OCSP fetches from a mail queue).
            CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            // Opportunistic and "encrypt" TLS accept any certificate (RFC 7435); "verify" takes the platform's checks.
            RemoteCertificateValidationCallback = verify ? null : static (_, _, _, _) => true,
        };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await _ssl.AuthenticateAsClientAsync(options, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            _state = State.Broken;
            LogTlsFailed(_host, "timed out");
            throw new SmtpSessionException($"TLS handshake with {_host} timed out after {Seconds(timeout)}", SessionStage.StartTls);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException)
        {
            _state = State.Broken;
            LogTlsFailed(_host, e.Message);
            throw new SmtpSessionException($"TLS handshake with {_host} failed: {e.Message}", SessionStage.StartTls, inner: e);
        }
        catch
        {
            _state = State.Broken;
            throw;
        }
        Tls = new TlsInfo(ProtocolName(_ssl.SslProtocol), _ssl.NegotiatedCipherSuite.ToString());
        (_reader, _writer) = CreatePipes(_ssl);
        LogTlsEstablished(_host, Tls.Protocol, Tls.Cipher, verify);
    }

    private async Task AuthenticateAsync(string user, string password, CancellationToken ct)
    {
        // Never hand a password to a host that anyone on the path can read, unless the path is this machine.
        if (Tls is null && !IPAddress.IsLoopback(Target.Address))
        {
            _state = State.Unusable;
            throw new SmtpSessionException(
                $"AUTH credentials are configured for {_host}, but the connection is not encrypted; refusing to send them in clear text",
                SessionStage.Auth);
        }
        var mechanisms = Capabilities.AuthMechanisms;
        if (mechanisms.Count == 0)
        {
            _state = State.Unusable;
            throw new SmtpSessionException($"AUTH credentials are configured for {_host}, but it does not offer AUTH", SessionStage.Auth);
        }

        var timeout = _settings.Timeouts.Command;
        string mechanism;
        SmtpReply reply;
        if (mechanisms.Contains(Sasl.Plain))
        {
            mechanism = Sasl.Plain;
            Append(ClientCommands.Auth(Sasl.Plain, SaslClient.EncodePlain(user, password)), secret: true);
            await FlushAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
            reply = await ReadReplyAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
        }
        else if (mechanisms.Contains(Sasl.Login))
        {
            mechanism = Sasl.Login;
            Append(ClientCommands.Auth(Sasl.Login));
            await FlushAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
            reply = await ReadReplyAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
            foreach (var answer in new[] { user, password })
            {
                if (reply.Code != 334) break;
                Append(SaslClient.EncodeLogin(answer) + "\r\n", secret: true);
                await FlushAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
                reply = await ReadReplyAsync(SessionStage.Auth, timeout, ct).ConfigureAwait(false);
            }
        }
        else
        {
            _state = State.Unusable;
            throw new SmtpSessionException(
                $"{_host} offers no AUTH mechanism this client supports (offered: {string.Join(' ', mechanisms.Order())}; supported: {Sasl.Mechanisms})",
                SessionStage.Auth);
        }

        if (reply.Code != 235)
        {
            // A 334 here means the server wants more than PLAIN/LOGIN give: the exchange is half-way, so out of step.
            if (reply.Code == 334) _state = State.Broken;
            LogAuthFailed(_host, mechanism, Describe(reply));
            throw Refused(SessionStage.Auth, reply, $"SASL authentication failed; host {_host} said: {Describe(reply)}");
        }
        LogAuthenticated(_host, user, mechanism);
    }

    // ---- plumbing shared by every command ----

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

    /// <summary>Queues one command line (with its CRLF) for the next flush.</summary>
    private void Append(string line, bool secret = false)
    {
        if (_logger.IsEnabled(LogLevel.Trace)) LogCommand(_host, secret ? Redact(line) : line.TrimEnd('\r', '\n'));
        Encoding.UTF8.GetBytes(line, _writer);
    }

    private static string Redact(string line) =>
        line.StartsWith("AUTH ", StringComparison.Ordinal) ? string.Join(' ', line.Split(' ', 3)[..2]) + " <redacted>" : "<redacted>";

    /// <summary>Sends what was queued, bounded by <paramref name="timeout"/>.</summary>
    private async ValueTask FlushAsync(SessionStage stage, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            var result = await _writer.FlushAsync(cts.Token).ConfigureAwait(false);
            if (result.IsCanceled) throw new OperationCanceledException(cts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw TimedOut(stage, timeout, "sending");
        }
        catch (OperationCanceledException)
        {
            // Abandoned half-way: the server may have part of a command.
            _state = State.Broken;
            throw;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            throw Lost(stage, e);
        }
    }

    /// <summary>Reads one complete reply, bounded by <paramref name="timeout"/>.</summary>
    private async ValueTask<SmtpReply> ReadReplyAsync(SessionStage stage, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(cts.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (SmtpReply.TryParse(ref buffer, out var reply, out var malformed))
                {
                    _reader.AdvanceTo(buffer.Start);
                    if (_logger.IsEnabled(LogLevel.Trace)) LogReply(_host, Describe(reply!));
                    return reply!;
                }
                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (malformed)
                {
                    _state = State.Broken;
                    throw new SmtpSessionException(
                        $"protocol error: malformed reply from {_host} while {Activity(stage)}", stage, null, _transactionStarted);
                }
                if (result.IsCanceled) throw new OperationCanceledException(cts.Token);
                if (result.IsCompleted) throw Lost(stage, null);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw TimedOut(stage, timeout, "waiting for a reply");
        }
        catch (OperationCanceledException)
        {
            _state = State.Broken;
            throw;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            throw Lost(stage, e);
        }
    }

    private SmtpSessionException Lost(SessionStage stage, Exception? inner)
    {
        _state = State.Broken;
        var why = inner is null ? string.Empty : $": {inner.Message}";
        return new SmtpSessionException($"lost connection with {_host} while {Activity(stage)}{why}", stage, null, _transactionStarted, inner);
    }

    private SmtpSessionException TimedOut(SessionStage stage, TimeSpan timeout, string doing)
    {
        _state = State.Broken;
        return new SmtpSessionException(
            $"conversation with {_host} timed out after {Seconds(timeout)} {doing} while {Activity(stage)}", stage, null, _transactionStarted);
    }

    /// <summary>A 4xx/5xx that ends the session; 421 means the server is closing, so nothing more can be said.</summary>
    private SmtpSessionException Refused(SessionStage stage, SmtpReply reply, string message)
    {
        _state = reply.Code == 421 ? State.Broken : State.Unusable;
        return new SmtpSessionException(message, stage, reply, _transactionStarted);
    }

    private static string Activity(SessionStage stage) => stage switch
    {
        SessionStage.Connect => "connecting",
        SessionStage.Greeting => "receiving the initial server greeting",
        SessionStage.Ehlo => "performing the EHLO handshake",
        SessionStage.StartTls => "performing the STARTTLS handshake",
        SessionStage.Auth => "authenticating",
        SessionStage.Mail => "sending MAIL FROM",
        SessionStage.Rcpt => "sending RCPT TO",
        SessionStage.Data => "sending message data",
        SessionStage.Quit => "sending QUIT",
        _ => stage.ToString(),
    };

    /// <summary>A reply on one line as logs and DSNs show it: <c>550 5.1.1 text</c>.</summary>
    internal static string Describe(SmtpReply reply)
    {
        var sb = new StringBuilder(64).Append(reply.Code);
        if (reply.EnhancedCode is not null) sb.Append(' ').Append(reply.EnhancedCode);
        foreach (var line in reply.Lines)
        {
            if (line.Length == 0) continue;
            sb.Append(' ');
            // Control characters from the server would forge log lines.
            foreach (var c in line) sb.Append(c < 0x20 || c == 0x7F ? ' ' : c);
        }
        return sb.ToString();
    }

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds:0.###} s";

    private static string ProtocolName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };
}
