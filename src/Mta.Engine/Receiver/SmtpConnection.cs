// The transport under one SMTP session: the duplex pipe over the client's stream, the TLS upgrade, and every read's and
// write's deadline through one TimeoutControl (Kestrel's connection + TimeoutControl shape).
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Mta.Abstractions;

namespace Mta.Engine.Receiver;

/// <summary>What a read waits for: it picks the timeout, and whether the data rate and a stop request apply.</summary>
internal enum ReadKind
{
    /// <summary>A command line (<c>Limits:CommandTimeout</c>); idle unless part of a line is pending.</summary>
    Command,
    /// <summary>A client response inside an AUTH exchange (<c>Limits:CommandTimeout</c>, data rate counted).</summary>
    AuthResponse,
    /// <summary>DATA or BDAT octets (<c>Limits:DataTimeout</c>, data rate counted, capped by the message's time).</summary>
    Data,
}

/// <summary>
/// One per accepted (or handed-in) connection. The session reads from <see cref="Input"/> and writes replies to
/// <see cref="Output"/>, and never sees the socket or stream: STARTTLS replaces both pipes here, and every wait runs
/// under one absolute deadline computed here (per-read timeout, shortened under stress, capped by the session's and the
/// current message's time).
/// </summary>
internal sealed class SmtpConnection : IAsyncDisposable
{
    private readonly ReceiverContext _ctx;
    private readonly Stream _stream;
    private readonly TimeoutControl _timeouts;
    private SslStream? _ssl;
    private volatile bool _stopRequested;
    private volatile bool _awaitingCommand;
    private volatile bool _aborted;
    private DateTimeOffset _sessionDeadline = DateTimeOffset.MaxValue;
    private DateTimeOffset _messageDeadline = DateTimeOffset.MaxValue;

    public SmtpConnection(ReceiverContext context, Stream stream)
    {
        _ctx = context;
        _stream = stream;
        _timeouts = new TimeoutControl(context.Time, OnDeadline, context.Options.Limits.MinDataRate, context.Options.Limits.MinDataRateGracePeriod);
        // The pipes allocate on first use, so an implicit-TLS session that replaces them at once costs nothing here.
        (Input, Output) = CreatePipes(stream);
    }

    /// <summary>The command and data bytes; replaced once by the TLS upgrade, the plaintext reader completed first.</summary>
    public PipeReader Input { get; private set; }

    /// <summary>Where replies go; flushed by <see cref="FlushAsync"/>.</summary>
    public PipeWriter Output { get; private set; }

    /// <summary>The negotiated TLS, or null in clear text.</summary>
    public TlsInfo? Tls { get; private set; }

    /// <summary>True once the server asked the session to close (<see cref="RequestStop"/>).</summary>
    public bool StopRequested => _stopRequested;

    /// <summary>Starts the session's time cap (<c>Limits:MaxSessionTime</c>): no read or write waits past it.</summary>
    public void StartSessionClock() => _sessionDeadline = _ctx.Time.GetUtcNow() + _ctx.Options.Limits.MaxSessionTime;

    /// <summary>Starts the current message's time cap (<c>Limits:MaxDataTime</c>): a slow drip cannot hold DATA forever.</summary>
    public void StartMessageClock() => _messageDeadline = _ctx.Time.GetUtcNow() + _ctx.Options.Limits.MaxDataTime;

    /// <summary>Ends the message's time cap: the message is complete or abandoned.</summary>
    public void StopMessageClock() => _messageDeadline = DateTimeOffset.MaxValue;

    /// <summary>Asks an idle session to close: a command read with no transaction open ends with <see cref="SessionStoppingException"/>.</summary>
    public void RequestStop()
    {
        _stopRequested = true;
        // Pairs with the barrier in ReadAsync: either this sees the session waiting, or the session sees the flag.
        Interlocked.MemoryBarrier();
        if (_awaitingCommand) Input.CancelPendingRead();
    }

    /// <summary>Ends whatever the connection waits for, now (shutdown grace period over).</summary>
    public void Abort()
    {
        _aborted = true;
        OnDeadline();
    }

    /// <summary>Reads more bytes under one absolute deadline.</summary>
    /// <param name="kind">What is awaited.</param>
    /// <param name="stopWhenIdle">For a command read: true when no transaction is open, so a stop request ends the read.</param>
    public async ValueTask<ReadResult> ReadAsync(ReadKind kind, bool stopWhenIdle = false)
    {
        var awaitingCommand = kind == ReadKind.Command;
        var timeout = kind == ReadKind.Data ? _ctx.Options.Limits.DataTimeout : _ctx.Options.Limits.CommandTimeout;
        // The per-read timeout (shorter under stress), but never past the session's or the current message's time cap
        // (slow drip). One absolute deadline for the whole read: a stop request or a stale wake-up that loops back
        // below waits for what is left of it, never for a fresh timeout.
        timeout = _ctx.Admission.ReadTimeout(timeout, awaitingCommand);
        var now = _ctx.Time.GetUtcNow();
        var cap = awaitingCommand || _messageDeadline == DateTimeOffset.MaxValue ? _sessionDeadline : Min(_sessionDeadline, _messageDeadline);
        if (cap - now < timeout) timeout = cap - now;
        if (timeout <= TimeSpan.Zero) throw new SessionTimeoutException();
        var deadline = _timeouts.After(timeout);
        while (true)
        {
            _awaitingCommand = awaitingCommand;
            Interlocked.MemoryBarrier();
            if (awaitingCommand && _stopRequested && stopWhenIdle)
            {
                _awaitingCommand = false;
                throw new SessionStoppingException();
            }
            _timeouts.BeginRead(deadline, awaitingCommand);
            ReadResult result = default;
            var expired = TimeoutReason.None;
            try
            {
                result = await Input.ReadAsync();
            }
            finally
            {
                _awaitingCommand = false;
                expired = _timeouts.EndRead(result.Buffer, result.IsCanceled, awaitingCommand);
            }
            // Data that arrived is taken even if the deadline passed at the same moment: the client made it.
            if (!result.IsCanceled) return result;
            if (_aborted) throw new OperationCanceledException("session aborted");
            if (expired != TimeoutReason.None) throw new SessionTimeoutException(expired);
            // Otherwise a stop request or a cancellation left over from an earlier wait: loop, and the stop check decides.
        }
    }

    /// <summary>Sends what the session wrote to <see cref="Output"/>, within <c>Limits:CommandTimeout</c>.</summary>
    public async ValueTask FlushAsync()
    {
        if (Output.UnflushedBytes == 0) return;
        var deadline = _timeouts.After(_ctx.Admission.CommandTimeout);
        while (true)
        {
            _timeouts.BeginWrite(deadline);
            var expired = TimeoutReason.None;
            FlushResult result = default;
            try
            {
                result = await Output.FlushAsync();
            }
            finally
            {
                expired = _timeouts.EndWrite();
            }
            if (!result.IsCanceled) return;
            if (_aborted) throw new OperationCanceledException("session aborted");
            if (expired != TimeoutReason.None) throw new SessionTimeoutException();
            // A cancellation left over from a read's deadline: flush again, within the same deadline.
        }
    }

    /// <summary>True when the client sent anything before the greeting (after <c>Limits:GreetingDelay</c>).</summary>
    public async ValueTask<bool> IsEarlyTalkerAsync(CancellationToken aborted)
    {
        // Only a plain socket can be peeked without consuming; under implicit TLS the handshake already happened.
        if (_stream is not NetworkStream network || Tls is not null) return false;
        var delay = _ctx.Admission.GreetingDelay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay, _ctx.Time, aborted);
        return network.DataAvailable;
    }

    /// <summary>Runs the server handshake; null when TLS is up, else why it failed (the connection must then close:
    /// no reply can be sent, the client no longer speaks clear text).</summary>
    public async ValueTask<string?> UpgradeToTlsAsync(CancellationToken aborted)
    {
        // CVE-2011-0411: anything pipelined behind STARTTLS sits in the plaintext reader's buffer. It is dropped with
        // that reader, so no byte that arrived before the handshake can ever run as a command inside TLS.
        await Input.CompleteAsync();
        await Output.CompleteAsync();
        var ssl = _ctx.Certificates.CreateServerStream(_stream);
        _ssl = ssl;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(_ctx.Admission.CommandTimeout);
        try
        {
            await _ctx.Certificates.AuthenticateAsync(ssl, deadline.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            return ex.GetBaseException().Message;
        }
        Tls = new TlsInfo(ProtocolName(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        (Input, Output) = CreatePipes(ssl);
        return null;
    }

    /// <summary>Ends the pipes and hands the stream (inside its TLS, if any) to a client on the same connection (TURN).
    /// Bytes buffered in the reader are dropped with it.</summary>
    public async ValueTask<Stream> ReleaseTransportAsync()
    {
        await Input.CompleteAsync();
        await Output.CompleteAsync();
        return (Stream?)_ssl ?? _stream;
    }

    private (PipeReader, PipeWriter) CreatePipes(Stream stream)
    {
        _timeouts.ResetLine();
        // Small buffers: thousands of idle sessions must fit in little memory. The reader counts what arrives, for the data rate.
        return (PipeReader.Create(new ReceiveCountingStream(stream, _timeouts), new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1024, leaveOpen: true)));
    }

    private static string ProtocolName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private void OnDeadline()
    {
        // A client that stops reading or writing must not hold the session: cancel whichever side waits.
        // The timer can fire while the connection is being disposed; on a pool thread a throw would end the process.
        try
        {
            Input.CancelPendingRead();
            Output.CancelPendingFlush();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _timeouts.DisposeAsync();
        // After STARTTLS or TURN the pipes may be completed already; completing again is harmless.
        try { await Input.CompleteAsync(); } catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException) { }
        try { await Output.CompleteAsync(); } catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException) { }
        if (_ssl is not null) await _ssl.DisposeAsync();
    }
}

/// <summary>The server is stopping and the session is idle: closed with 421 4.3.2.</summary>
internal sealed class SessionStoppingException : Exception;
