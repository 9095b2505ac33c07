// A scriptable SMTP server on 127.0.0.1 for tests of anything that sends mail: replies, drops and delays on demand.
using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Testing;

/// <summary>Where <see cref="TestSmtpServer"/> closes the connection instead of carrying on.</summary>
public enum DropPoint
{
    /// <summary>Never: the server plays the whole conversation.</summary>
    None,
    /// <summary>Right after sending the greeting, before reading anything.</summary>
    AfterGreeting,
    /// <summary>When EHLO (or HELO) has been received, before replying to it.</summary>
    AfterEhlo,
    /// <summary>When MAIL has been received, before replying to it.</summary>
    AfterMail,
    /// <summary>When the first RCPT of a transaction has been received, before replying to it.</summary>
    AfterRcpt,
    /// <summary>When DATA has been received, before the 354.</summary>
    AfterDataCommand,
    /// <summary>When the whole message (up to the final dot) has been received, before the final reply.</summary>
    BeforeFinalReply,
}

/// <summary>
/// What a <see cref="TestSmtpServer"/> does. Read at each use, so a test may change it between connections
/// (fail the first attempt, then succeed). Every reply function returns the full reply text ("550 5.1.1 no such
/// user"; several lines as "250-a\r\n250 b") or null for the default.
/// </summary>
public sealed class TestSmtpServerOptions
{
    /// <summary>The name in the greeting and the EHLO reply. Defaults to <c>test.local</c>.</summary>
    public string HostName { get; set; } = "test.local";

    /// <summary>Connection number (1-based) to the greeting; null gives <c>220 HostName ESMTP</c>. A 421 greeting
    /// is followed by a close; any other non-2xx greeting by 503 to everything but QUIT (RFC 5321 3.1).</summary>
    public Func<int, string>? Greeting { get; set; }

    /// <summary>Close each connection right after accepting it, without a greeting.</summary>
    public bool DropOnConnect { get; set; }

    /// <summary>EHLO keywords announced (STARTTLS and AUTH are added by <see cref="OfferStartTls"/> and <see cref="AuthUsers"/>).</summary>
    public List<string> Extensions { get; set; } = ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"];

    /// <summary>Answer EHLO with 502, so a client has to fall back to HELO.</summary>
    public bool RefuseEhlo { get; set; }

    /// <summary>Offer STARTTLS (before TLS only).</summary>
    public bool OfferStartTls { get; set; }

    /// <summary>The TLS certificate; null uses <see cref="TestSmtpServer.DefaultCertificate"/> (self-signed).</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>User name to password; when set, AUTH PLAIN LOGIN is offered (after TLS, or always with <see cref="AllowPlainAuth"/>).</summary>
    public Dictionary<string, string>? AuthUsers { get; set; }

    /// <summary>The SASL mechanisms announced and accepted (PLAIN and/or LOGIN). Defaults to <c>PLAIN LOGIN</c>.</summary>
    public string AuthMechanisms { get; set; } = "PLAIN LOGIN";

    /// <summary>Offer AUTH on a clear-text connection too.</summary>
    public bool AllowPlainAuth { get; set; }

    /// <summary>The MAIL line to the reply; null (or a null result) gives <c>250 2.1.0 Ok</c>.</summary>
    public Func<string, string?>? MailReply { get; set; }

    /// <summary>The recipient address (no brackets) to the reply; null (or a null result) gives <c>250 2.1.5 Ok</c>.</summary>
    public Func<string, string?>? RcptReply { get; set; }

    /// <summary>The reply to DATA; null (or a null result) gives <c>354 End data with &lt;CR&gt;&lt;LF&gt;.&lt;CR&gt;&lt;LF&gt;</c>.</summary>
    public Func<string?>? DataReply { get; set; }

    /// <summary>The reply after the final dot; null (or a null result) gives <c>250 2.0.0 Ok: queued as N</c>.
    /// Only a 2xx reply adds the transaction to <see cref="TestSmtpServer.Received"/>.</summary>
    public Func<ReceivedTransaction, string?>? FinalReply { get; set; }

    /// <summary>The reply to a BDAT chunk (RFC 3030), called once the chunk's octets are read, for chunks of a
    /// transaction that may go on (MAIL and a recipient accepted, no chunk refused yet); null (or a null result) gives
    /// <c>250 2.0.0 N octets received</c>, or for the LAST chunk the <see cref="FinalReply"/>. A non-2xx reply ends the
    /// transaction's chunks: later ones get 503 until RSET. BDAT is served only when <see cref="Extensions"/> holds
    /// CHUNKING; otherwise it gets 502 as before.</summary>
    public Func<BdatChunk, string?>? BdatReply { get; set; }

    /// <summary>Where to drop every connection. Defaults to <see cref="DropPoint.None"/>.</summary>
    public DropPoint DropAt { get; set; }

    /// <summary>A delay before every reply (a slow server). Defaults to none.</summary>
    public TimeSpan ReplyDelay { get; set; }
}

/// <summary>One BDAT chunk as it arrived.</summary>
/// <param name="Index">1-based, within its transaction.</param>
/// <param name="Size">The chunk size the BDAT line announced (and the octets read).</param>
/// <param name="Last">The line said LAST.</param>
public sealed record BdatChunk(int Index, long Size, bool Last);

/// <summary>One transaction the server accepted (2xx after the final dot, or after BDAT LAST).</summary>
/// <param name="Connection">The connection number, 1-based.</param>
/// <param name="HeloName">The EHLO/HELO argument.</param>
/// <param name="MailFrom">The reverse-path without brackets (empty for <c>&lt;&gt;</c>).</param>
/// <param name="MailLine">The MAIL command line as received.</param>
/// <param name="Recipients">Accepted recipient addresses, without brackets.</param>
/// <param name="RcptLines">The RCPT lines of the accepted recipients, as received.</param>
/// <param name="Data">The message, dot-unstuffed, without the terminating dot line.</param>
/// <param name="Tls">The transaction ran over TLS.</param>
/// <param name="AuthUser">The authenticated user, or null.</param>
/// <param name="BdatChunks">The BDAT chunks the message came in (then <paramref name="Data"/> is their octets exactly as
/// sent); empty when it came with DATA.</param>
public sealed record ReceivedTransaction(
    int Connection,
    string HeloName,
    string MailFrom,
    string MailLine,
    IReadOnlyList<string> Recipients,
    IReadOnlyList<string> RcptLines,
    byte[] Data,
    bool Tls,
    string? AuthUser,
    IReadOnlyList<BdatChunk>? BdatChunks = null)
{
    /// <summary>True when the message came with BDAT.</summary>
    public bool Chunked => BdatChunks is { Count: > 0 };

    /// <summary>The message as UTF-8 text.</summary>
    public string DataText => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// A scriptable SMTP server on 127.0.0.1 and an ephemeral port. Handles pipelined input, STARTTLS, AUTH PLAIN/LOGIN
/// and many concurrent connections; records every command line and every accepted transaction. Thread-safe.
/// </summary>
public sealed class TestSmtpServer : IAsyncDisposable
{
    private static readonly Lazy<X509Certificate2> SelfSigned = new(CreateSelfSigned, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<ReceivedTransaction> _received = [];
    private readonly List<string> _commands = [];
    private readonly List<List<string>> _batches = [];
    private readonly List<Exception> _errors = [];
    private readonly List<Task> _sessions = [];
    private readonly ConcurrentDictionary<int, Socket> _open = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _acceptLoop = Task.CompletedTask;
    private int _connections;
    private int _queueIds;
    private int _disposed;

    private TestSmtpServer(TestSmtpServerOptions options)
    {
        Options = options;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    /// <summary>A self-signed certificate for <c>test.local</c>, <c>localhost</c> and 127.0.0.1, made once per process.</summary>
    public static X509Certificate2 DefaultCertificate => SelfSigned.Value;

    /// <summary>Starts a server listening on 127.0.0.1 and a free port.</summary>
    public static Task<TestSmtpServer> StartAsync(TestSmtpServerOptions? options = null)
    {
        var server = new TestSmtpServer(options ?? new TestSmtpServerOptions());
        server._acceptLoop = Task.Run(server.AcceptLoopAsync);
        return Task.FromResult(server);
    }

    /// <summary>The port the server listens on.</summary>
    public int Port => EndPoint.Port;

    /// <summary>127.0.0.1 and <see cref="Port"/>.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The behaviour; may be changed between connections.</summary>
    public TestSmtpServerOptions Options { get; }

    /// <summary>A snapshot of the completed transactions (2xx after the dot), in completion order.</summary>
    public IReadOnlyList<ReceivedTransaction> Received
    {
        get { lock (_lock) return [.. _received]; }
    }

    /// <summary>Connections accepted so far.</summary>
    public int ConnectionCount => Volatile.Read(ref _connections);

    /// <summary>A snapshot of every command line received (AUTH exchanges and message data excluded), all sessions, in arrival order.</summary>
    public IReadOnlyList<string> Commands
    {
        get { lock (_lock) return [.. _commands]; }
    }

    /// <summary>
    /// A snapshot of the command lines grouped as they arrived: lines already buffered when the line before them was
    /// handled share a group (a pipelined group, RFC 2920); a line the server had to wait for starts a new one.
    /// Groups of different connections are kept apart, in the order each group started.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> CommandBatches
    {
        get { lock (_lock) return [.. _batches.Select(b => (IReadOnlyList<string>)[.. b])]; }
    }

    /// <summary>Unexpected exceptions in sessions (a bug in the server or a test's reply function); empty normally.</summary>
    public IReadOnlyList<Exception> SessionErrors
    {
        get { lock (_lock) return [.. _errors]; }
    }

    /// <summary>Waits until at least <paramref name="count"/> transactions have completed.</summary>
    /// <exception cref="TimeoutException">Not enough transactions arrived in time; the message lists what did.</exception>
    public async Task WaitForTransactionsAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_received.Count >= count) return;
                changed = _changed.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw TimedOut(count, timeout);
            try
            {
                await changed.WaitAsync(left).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw TimedOut(count, timeout);
            }
        }
    }

    /// <summary>Stops listening, closes every connection and waits for the sessions to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        foreach (var socket in _open.Values) socket.Dispose();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The accept loop only ends with the listener; how it ended does not matter now.
        }
        Task[] sessions;
        lock (_lock) sessions = [.. _sessions];
        try
        {
            await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Sessions swallow their own errors; a hang here must not hang the test run.
        }
        _stop.Dispose();
    }

    private TimeoutException TimedOut(int count, TimeSpan timeout)
    {
        lock (_lock)
        {
            var tail = _commands.Count > 20 ? _commands[^20..] : _commands;
            return new TimeoutException(
                $"Expected {count} transaction(s) within {timeout.TotalSeconds:0.#} s at {EndPoint}, got {_received.Count} " +
                $"over {ConnectionCount} connection(s). Last commands: [{string.Join(" | ", tail)}]" +
                (_errors.Count > 0 ? $". Session errors: {string.Join("; ", _errors.Select(e => e.Message))}" : ""));
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            var number = Interlocked.Increment(ref _connections);
            _open[number] = socket;
            var task = Task.Run(() => RunSessionAsync(socket, number));
            lock (_lock) _sessions.Add(task);
        }
    }

    private async Task RunSessionAsync(Socket socket, int number)
    {
        try
        {
            if (Options.DropOnConnect) return;
            var session = new Session(this, socket, number);
            try
            {
                await session.RunAsync(_stop.Token).ConfigureAwait(false);
            }
            finally
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or AuthenticationException)
        {
            // The client went away, TLS failed, or the server is stopping: all normal for a test peer.
        }
        catch (Exception e)
        {
            lock (_lock) _errors.Add(e);
        }
        finally
        {
            _open.TryRemove(number, out _);
            socket.Dispose();
        }
    }

    private List<string> RecordCommand(string line, List<string>? batch)
    {
        lock (_lock)
        {
            _commands.Add(line);
            if (batch is null)
            {
                batch = [];
                _batches.Add(batch);
            }
            batch.Add(line);
            return batch;
        }
    }

    private void RecordTransaction(ReceivedTransaction transaction)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _received.Add(transaction);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test.local", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("test.local");
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        // An ephemeral key cannot serve TLS on Linux; a PKCS#12 round trip gives it a persisted one.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    /// <summary>One connection's conversation.</summary>
    private sealed class Session(TestSmtpServer server, Socket socket, int number) : IAsyncDisposable
    {
        private const string DefaultData = "354 End data with <CR><LF>.<CR><LF>";

        private readonly NetworkStream _network = new(socket, ownsSocket: false);
        private Stream _stream = null!;
        private PipeReader _reader = null!;
        private SslStream? _ssl;
        private string? _helo;
        private string? _authUser;
        private string? _mailLine;
        private string _mailFrom = string.Empty;
        private readonly List<string> _recipients = [];
        private readonly List<string> _rcptLines = [];
        private readonly ArrayBufferWriter<byte> _bdatData = new();
        private readonly List<BdatChunk> _bdatChunks = [];
        private bool _bdatRefused;
        private List<string>? _batch;
        private bool _lineWasBuffered;

        private TestSmtpServerOptions Options => server.Options;

        public async Task RunAsync(CancellationToken ct)
        {
            _stream = _network;
            _reader = PipeReader.Create(_network, new StreamPipeReaderOptions(leaveOpen: true));

            var greeting = Options.Greeting?.Invoke(number) ?? $"220 {Options.HostName} ESMTP";
            await ReplyAsync(greeting, ct).ConfigureAwait(false);
            if (Options.DropAt == DropPoint.AfterGreeting || greeting.StartsWith("421", StringComparison.Ordinal)) return;
            var refusing = !greeting.StartsWith('2');

            while (await ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                _batch = server.RecordCommand(line, _lineWasBuffered ? _batch : null);
                var space = line.IndexOf(' ');
                var verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
                var argument = space < 0 ? string.Empty : line[(space + 1)..];
                if (refusing)
                {
                    if (verb == "QUIT") { await ReplyAsync("221 2.0.0 Bye", ct).ConfigureAwait(false); return; }
                    await ReplyAsync("503 5.5.1 Bad sequence of commands", ct).ConfigureAwait(false);
                    continue;
                }
                if (!await HandleAsync(verb, argument, line, ct).ConfigureAwait(false)) return;
            }
        }

        // False ends the session (QUIT or a scripted drop).
        private async Task<bool> HandleAsync(string verb, string argument, string line, CancellationToken ct)
        {
            switch (verb)
            {
                case "EHLO":
                    if (Options.DropAt == DropPoint.AfterEhlo) return false;
                    if (Options.RefuseEhlo)
                    {
                        await ReplyAsync("502 5.5.1 EHLO not implemented", ct).ConfigureAwait(false);
                        return true;
                    }
                    _helo = argument;
                    ResetTransaction();
                    await ReplyAsync(EhloReply(), ct).ConfigureAwait(false);
                    return true;
                case "HELO":
                    if (Options.DropAt == DropPoint.AfterEhlo) return false;
                    _helo = argument;
                    ResetTransaction();
                    await ReplyAsync($"250 {Options.HostName}", ct).ConfigureAwait(false);
                    return true;
                case "STARTTLS":
                    if (!Options.OfferStartTls || _ssl is not null)
                    {
                        await ReplyAsync("502 5.5.1 STARTTLS not available", ct).ConfigureAwait(false);
                        return true;
                    }
                    await ReplyAsync("220 2.0.0 Ready to start TLS", ct).ConfigureAwait(false);
                    await StartTlsAsync(ct).ConfigureAwait(false);
                    return true;
                case "AUTH":
                    return await AuthAsync(argument, ct).ConfigureAwait(false);
                case "MAIL":
                    if (_mailLine is not null)
                    {
                        await ReplyAsync("503 5.5.1 Error: nested MAIL command", ct).ConfigureAwait(false);
                        return true;
                    }
                    if (Options.DropAt == DropPoint.AfterMail) return false;
                    {
                        var reply = Options.MailReply?.Invoke(line) ?? "250 2.1.0 Ok";
                        if (reply.StartsWith('2'))
                        {
                            _mailLine = line;
                            _mailFrom = PathOf(argument);
                        }
                        await ReplyAsync(reply, ct).ConfigureAwait(false);
                    }
                    return true;
                case "RCPT":
                    if (_mailLine is null)
                    {
                        await ReplyAsync("503 5.5.1 Error: need MAIL command", ct).ConfigureAwait(false);
                        return true;
                    }
                    if (Options.DropAt == DropPoint.AfterRcpt) return false;
                    {
                        var address = PathOf(argument);
                        var reply = Options.RcptReply?.Invoke(address) ?? "250 2.1.5 Ok";
                        if (reply.StartsWith('2'))
                        {
                            _recipients.Add(address);
                            _rcptLines.Add(line);
                        }
                        await ReplyAsync(reply, ct).ConfigureAwait(false);
                    }
                    return true;
                case "DATA":
                    return await DataAsync(ct).ConfigureAwait(false);
                case "RSET":
                    ResetTransaction();
                    await ReplyAsync("250 2.0.0 Ok", ct).ConfigureAwait(false);
                    return true;
                case "NOOP":
                    await ReplyAsync("250 2.0.0 Ok", ct).ConfigureAwait(false);
                    return true;
                case "QUIT":
                    await ReplyAsync("221 2.0.0 Bye", ct).ConfigureAwait(false);
                    return false;
                case "BDAT" when Offers("CHUNKING"):
                    return await BdatAsync(argument, ct).ConfigureAwait(false);
                case "VRFY" or "EXPN" or "HELP" or "TURN" or "BDAT":
                    await ReplyAsync("502 5.5.1 Command not implemented", ct).ConfigureAwait(false);
                    return true;
                default:
                    await ReplyAsync("500 5.5.2 Error: command not recognized", ct).ConfigureAwait(false);
                    return true;
            }
        }

        private async Task<bool> DataAsync(CancellationToken ct)
        {
            if (_mailLine is null)
            {
                await ReplyAsync("503 5.5.1 Error: need MAIL command", ct).ConfigureAwait(false);
                return true;
            }
            if (_recipients.Count == 0)
            {
                await ReplyAsync("554 5.5.1 Error: no valid recipients", ct).ConfigureAwait(false);
                return true;
            }
            if (_bdatChunks.Count > 0 || _bdatRefused)
            {
                // RFC 3030 2: DATA and BDAT do not mix in one transaction.
                await ReplyAsync("503 5.5.1 Error: DATA after BDAT", ct).ConfigureAwait(false);
                return true;
            }
            if (Options.DropAt == DropPoint.AfterDataCommand) return false;
            var reply = Options.DataReply?.Invoke() ?? DefaultData;
            await ReplyAsync(reply, ct).ConfigureAwait(false);
            if (!reply.StartsWith("354", StringComparison.Ordinal)) return true;

            var data = await ReadDataAsync(ct).ConfigureAwait(false);
            if (data is null || Options.DropAt == DropPoint.BeforeFinalReply) return false;
            var transaction = new ReceivedTransaction(number, _helo ?? string.Empty, _mailFrom, _mailLine, [.. _recipients], [.. _rcptLines],
                data, _ssl is not null, _authUser);
            var final = Options.FinalReply?.Invoke(transaction)
                ?? $"250 2.0.0 Ok: queued as {Interlocked.Increment(ref server._queueIds):X8}";
            ResetTransaction();
            // Recorded before the reply goes out, so a client that saw 250 always finds the transaction here.
            if (final.StartsWith('2')) server.RecordTransaction(transaction);
            await ReplyAsync(final, ct).ConfigureAwait(false);
            return true;
        }

        /// <summary>
        /// BDAT size [LAST] (RFC 3030): the chunk's octets are always read (the client sent them whatever the reply),
        /// then answered. A transaction whose chunk was refused takes no more chunks until RSET, as RFC 3030 4.2 has the
        /// client send none.
        /// </summary>
        private async Task<bool> BdatAsync(string argument, CancellationToken ct)
        {
            var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is < 1 or > 2 || !long.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size)
                || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
            {
                // Without a size the octets that follow cannot be skipped: the conversation is lost.
                await ReplyAsync("501 5.5.4 Syntax: BDAT size [LAST]", ct).ConfigureAwait(false);
                return false;
            }
            var last = parts.Length == 2;
            var start = _bdatData.WrittenCount;
            if (!await ReadChunkAsync(size, _bdatData, ct).ConfigureAwait(false)) return false;

            string? refusal = _mailLine is null ? "503 5.5.1 Error: need MAIL command"
                : _recipients.Count == 0 ? "554 5.5.1 Error: no valid recipients"
                : _bdatRefused ? "503 5.5.1 Error: a previous chunk was refused"
                : null;
            if (refusal is not null)
            {
                // The octets of a chunk that was not taken are not the message's.
                var kept = _bdatData.WrittenSpan[..start].ToArray();
                _bdatData.Clear();
                _bdatData.Write(kept);
                await ReplyAsync(refusal, ct).ConfigureAwait(false);
                return true;
            }

            var chunk = new BdatChunk(_bdatChunks.Count + 1, size, last);
            _bdatChunks.Add(chunk);
            var reply = Options.BdatReply?.Invoke(chunk);
            if (reply is not null && !reply.StartsWith('2'))
            {
                // A refused LAST ends the transaction as a refused final dot does; an earlier one waits for RSET.
                if (last) ResetTransaction();
                else _bdatRefused = true;
                await ReplyAsync(reply, ct).ConfigureAwait(false);
                return true;
            }
            if (!last)
            {
                await ReplyAsync(reply ?? $"250 2.0.0 {size} octets received", ct).ConfigureAwait(false);
                return true;
            }

            if (Options.DropAt == DropPoint.BeforeFinalReply) return false;
            var transaction = new ReceivedTransaction(number, _helo ?? string.Empty, _mailFrom, _mailLine!, [.. _recipients], [.. _rcptLines],
                _bdatData.WrittenSpan.ToArray(), _ssl is not null, _authUser, [.. _bdatChunks]);
            var final = Options.FinalReply?.Invoke(transaction)
                ?? $"250 2.0.0 Ok: {_bdatData.WrittenCount} octets, queued as {Interlocked.Increment(ref server._queueIds):X8}";
            ResetTransaction();
            if (final.StartsWith('2')) server.RecordTransaction(transaction);
            await ReplyAsync(final, ct).ConfigureAwait(false);
            return true;
        }

        /// <summary>Reads exactly <paramref name="size"/> octets into <paramref name="output"/>; false when the client closed first.</summary>
        private async Task<bool> ReadChunkAsync(long size, ArrayBufferWriter<byte> output, CancellationToken ct)
        {
            var left = size;
            while (left > 0)
            {
                var result = await _reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var take = buffer.Slice(0, Math.Min(left, buffer.Length));
                foreach (var segment in take) output.Write(segment.Span);
                left -= take.Length;
                _reader.AdvanceTo(take.End);
                if (left > 0 && result.IsCompleted) return false;
            }
            return true;
        }

        private bool Offers(string keyword) =>
            Options.Extensions.Any(e => e.Split(' ', 2)[0].Equals(keyword, StringComparison.OrdinalIgnoreCase));

        private async Task<bool> AuthAsync(string argument, CancellationToken ct)
        {
            var users = Options.AuthUsers;
            if (users is null || (_ssl is null && !Options.AllowPlainAuth))
            {
                await ReplyAsync("503 5.5.1 Error: authentication not enabled", ct).ConfigureAwait(false);
                return true;
            }
            if (_authUser is not null)
            {
                await ReplyAsync("503 5.5.1 Error: already authenticated", ct).ConfigureAwait(false);
                return true;
            }
            var parts = argument.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
            var mechanism = parts.Length > 0 ? parts[0].ToUpperInvariant() : string.Empty;
            var initial = parts.Length > 1 ? parts[1] : null;
            if (!Options.AuthMechanisms.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(mechanism, StringComparer.OrdinalIgnoreCase))
                mechanism = string.Empty;
            string? user, password;
            switch (mechanism)
            {
                case Sasl.Plain:
                {
                    if (initial is null)
                    {
                        await WriteAsync(SaslReplies.EmptyChallenge.ToArray(), ct).ConfigureAwait(false);
                        initial = await ReadLineAsync(ct).ConfigureAwait(false);
                        if (initial is null) return false;
                    }
                    if (Sasl.IsCancel(initial)) { await ReplyAsync("501 5.7.0 Authentication cancelled", ct).ConfigureAwait(false); return true; }
                    if (!SaslPlain.TryDecode(initial, out _, out user, out password, out var error))
                    {
                        await ReplyAsync($"501 5.5.2 {error}", ct).ConfigureAwait(false);
                        return true;
                    }
                    break;
                }
                case Sasl.Login:
                {
                    if (initial is null)
                    {
                        await ReplyAsync("334 " + SaslLogin.UsernameChallenge, ct).ConfigureAwait(false);
                        initial = await ReadLineAsync(ct).ConfigureAwait(false);
                        if (initial is null) return false;
                    }
                    if (Sasl.IsCancel(initial)) { await ReplyAsync("501 5.7.0 Authentication cancelled", ct).ConfigureAwait(false); return true; }
                    if (!SaslLogin.TryDecodeUser(initial, out user, out var error))
                    {
                        await ReplyAsync($"501 5.5.2 {error}", ct).ConfigureAwait(false);
                        return true;
                    }
                    await ReplyAsync("334 " + SaslLogin.PasswordChallenge, ct).ConfigureAwait(false);
                    var answer = await ReadLineAsync(ct).ConfigureAwait(false);
                    if (answer is null) return false;
                    if (Sasl.IsCancel(answer)) { await ReplyAsync("501 5.7.0 Authentication cancelled", ct).ConfigureAwait(false); return true; }
                    if (!SaslLogin.TryDecodePassword(answer, out password, out error))
                    {
                        await ReplyAsync($"501 5.5.2 {error}", ct).ConfigureAwait(false);
                        return true;
                    }
                    break;
                }
                default:
                    await ReplyAsync("504 5.5.4 Unrecognized authentication type", ct).ConfigureAwait(false);
                    return true;
            }
            if (user is not null && users.TryGetValue(user, out var expected) && expected == password)
            {
                _authUser = user;
                await ReplyAsync("235 2.7.0 Authentication successful", ct).ConfigureAwait(false);
            }
            else
            {
                await ReplyAsync("535 5.7.8 Authentication credentials invalid", ct).ConfigureAwait(false);
            }
            return true;
        }

        private async Task StartTlsAsync(CancellationToken ct)
        {
            // RFC 3207 4.2 (and the STARTTLS injection attacks): anything pipelined after STARTTLS is discarded.
            if (_reader.TryRead(out var pending)) _reader.AdvanceTo(pending.Buffer.End);
            await _reader.CompleteAsync().ConfigureAwait(false);
            _ssl = new SslStream(_network, leaveInnerStreamOpen: true);
            await _ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = Options.Certificate ?? DefaultCertificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, ct).ConfigureAwait(false);
            _stream = _ssl;
            _reader = PipeReader.Create(_ssl, new StreamPipeReaderOptions(leaveOpen: true));
            // RFC 3207 4.2: the client must start over with EHLO.
            _helo = null;
            _authUser = null;
            ResetTransaction();
        }

        private string EhloReply()
        {
            var lines = new List<string> { Options.HostName };
            lines.AddRange(Options.Extensions);
            if (Options.OfferStartTls && _ssl is null) lines.Add("STARTTLS");
            if (Options.AuthUsers is not null && (_ssl is not null || Options.AllowPlainAuth)) lines.Add("AUTH " + Options.AuthMechanisms);
            var sb = new StringBuilder();
            for (var i = 0; i < lines.Count; i++)
                sb.Append("250").Append(i == lines.Count - 1 ? ' ' : '-').Append(lines[i]).Append("\r\n");
            return sb.ToString();
        }

        private void ResetTransaction()
        {
            _mailLine = null;
            _mailFrom = string.Empty;
            _recipients.Clear();
            _rcptLines.Clear();
            _bdatData.Clear();
            _bdatChunks.Clear();
            _bdatRefused = false;
        }

        // "FROM:<a@b> SIZE=1" -> "a@b"; lenient, as a test peer should be.
        private static string PathOf(string argument)
        {
            var open = argument.IndexOf('<');
            var close = open < 0 ? -1 : argument.IndexOf('>', open + 1);
            if (open >= 0 && close > open) return argument[(open + 1)..close];
            var colon = argument.IndexOf(':');
            var rest = colon < 0 ? argument : argument[(colon + 1)..];
            return rest.Split(' ', 2)[0].Trim();
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            // A line that is already buffered arrived with the one before it (pipelined).
            if (_reader.TryRead(out var buffered))
            {
                var status = SmtpLineReader.TryReadLine(buffered.Buffer, SmtpLimits.MaxAuthLine, out var line, out var consumed);
                if (status == LineStatus.Complete)
                {
                    var text = Encoding.UTF8.GetString(line);
                    _reader.AdvanceTo(consumed);
                    _lineWasBuffered = true;
                    return text;
                }
                _reader.AdvanceTo(buffered.Buffer.Start);
            }
            _lineWasBuffered = false;
            while (true)
            {
                var result = await _reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = SmtpLineReader.TryReadLine(buffer, SmtpLimits.MaxAuthLine, out var line, out var consumed);
                if (status == LineStatus.Complete)
                {
                    var text = Encoding.UTF8.GetString(line);
                    _reader.AdvanceTo(consumed);
                    return text;
                }
                if (status == LineStatus.TooLong)
                {
                    _reader.AdvanceTo(buffer.End);
                    await ReplyAsync("500 5.5.6 Line too long", ct).ConfigureAwait(false);
                    return null;
                }
                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) return null;
            }
        }

        private async Task<byte[]?> ReadDataAsync(CancellationToken ct)
        {
            var decoder = new DataDecoder(int.MaxValue);
            var output = new ArrayBufferWriter<byte>();
            while (true)
            {
                var result = await _reader.ReadAsync(ct).ConfigureAwait(false);
                var consumed = decoder.Decode(result.Buffer, output);
                if (decoder.IsComplete)
                {
                    _reader.AdvanceTo(consumed);
                    return output.WrittenSpan.ToArray();
                }
                _reader.AdvanceTo(consumed, result.Buffer.End);
                if (result.IsCompleted) return null;
            }
        }

        private async Task ReplyAsync(string text, CancellationToken ct)
        {
            if (Options.ReplyDelay > TimeSpan.Zero) await Task.Delay(Options.ReplyDelay, ct).ConfigureAwait(false);
            if (!text.EndsWith("\r\n", StringComparison.Ordinal)) text += "\r\n";
            await WriteAsync(Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
        }

        private async Task WriteAsync(byte[] bytes, CancellationToken ct)
        {
            await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            if (_reader is not null) await _reader.CompleteAsync().ConfigureAwait(false);
            if (_ssl is not null) await _ssl.DisposeAsync().ConfigureAwait(false);
            await _network.DisposeAsync().ConfigureAwait(false);
        }
    }
}
