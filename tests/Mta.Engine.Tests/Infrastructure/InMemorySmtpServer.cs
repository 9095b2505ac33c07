// The real engine's services with no listener: each connection is a real SmtpSession over an in-memory duplex pipe.
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;

namespace Mta.Engine.Tests.Infrastructure;

/// <summary>
/// Kestrel tests Http1Connection over pipes; these tests do the same for the SMTP session. The engine is composed as
/// <c>mta run</c> composes it (<see cref="EngineServiceCollectionExtensions.AddMtaEngine"/>), with a real spool in a
/// temporary folder, but the host is never started: no port is bound, no queue runs, no DNS is asked (message
/// verification is off unless a test turns it on). A connection goes through <see cref="SmtpServer.ServeAsync"/>, the
/// same code path accepted sockets take.
/// </summary>
public sealed class InMemorySmtpServer : IAsyncDisposable
{
    private readonly IHost _host;

    private InMemorySmtpServer(IHost host, MtaOptions options, string root)
    {
        _host = host;
        Options = options;
        Root = root;
    }

    public MtaOptions Options { get; }
    public string Root { get; }
    public IServiceProvider Services => _host.Services;

    /// <summary>The listener a connection uses unless it names its own: the first configured one.</summary>
    public ListenerOptions Listener => Options.Listeners[0];

    /// <summary>Local domains <c>example.test</c> and <c>localhost</c>, any local part accepted, clear text, no trusted networks
    /// (the same defaults as the end-to-end <c>MtaTestServer</c>). <paramref name="logs"/>, when given, receives the
    /// engine's log from level Information up.</summary>
    public static InMemorySmtpServer Create(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null, TimeProvider? time = null,
        ILoggerProvider? logs = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-mem-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(root);
        var options = new MtaOptions
        {
            HostName = "mta.test",
            DataDirectory = root,
            Listeners = [new ListenerOptions { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = ListenerTlsMode.None }],
            LocalDomains = ["example.test", "localhost"],
        };
        options.Mailboxes.AcceptAnyLocalPart = true;
        options.Mailboxes.SystemUsers = false;
        options.Authentication.Verify.Enabled = false;
        options.Hooks.Timeout = TimeSpan.FromSeconds(5);
        configure?.Invoke(options);
        var errors = MtaOptionsValidator.Validate(options);
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(logs is null ? LogLevel.Warning : LogLevel.Information);
        if (logs is not null) builder.Logging.AddProvider(logs);
        builder.Services.AddMtaEngine(options, hooks);
        if (time is not null) builder.Services.AddSingleton(time);
        return new InMemorySmtpServer(builder.Build(), options, root);
    }

    /// <summary>Opens a session and (unless told not to) reads its greeting, which must be 220.</summary>
    /// <param name="listener">The listener the session belongs to; null for <see cref="Listener"/>.</param>
    /// <param name="remote">The client's address; 127.0.0.1 by default.</param>
    public async Task<InMemorySmtpClient> ConnectAsync(ListenerOptions? listener = null, IPEndPoint? remote = null, bool readGreeting = true)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var serverSide = new DuplexPipeStream(toServer.Reader, toClient.Writer);
        var server = Services.GetRequiredService<SmtpServer>();
        var served = Task.Run(async () =>
        {
            try
            {
                return await server.ServeAsync(serverSide, remote ?? new IPEndPoint(IPAddress.Loopback, 40000), new IPEndPoint(IPAddress.Loopback, 25),
                    listener ?? Listener, null, CancellationToken.None);
            }
            finally
            {
                // The session is over: the client reads end of stream, as after a close.
                await toClient.Writer.CompleteAsync();
                await toServer.Reader.CompleteAsync();
            }
        });
        var client = new InMemorySmtpClient(toClient.Reader, toServer.Writer, served);
        if (readGreeting)
        {
            var greeting = await client.ReadReplyAsync();
            if (greeting.Code != 220) throw new InvalidOperationException("greeting: " + greeting);
        }
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is IAsyncDisposable disposable) await disposable.DisposeAsync();
        else _host.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>One reply as the client read it: the code and each line's text after "250-" or "250 ".</summary>
public sealed record SmtpTestReply(int Code, IReadOnlyList<string> Lines)
{
    public string Text => string.Join("\n", Lines);
    public override string ToString() => string.Join("\n", Lines.Select((l, i) => $"{Code}{(i == Lines.Count - 1 ? ' ' : '-')}{l}"));
}

/// <summary>The client's end of an in-memory session: write bytes, read replies, see the close.</summary>
public sealed class InMemorySmtpClient : IAsyncDisposable
{
    private readonly PipeReader _rawReplies;
    private readonly PipeWriter _rawCommands;
    private readonly Task<ServedSession> _served;
    // Replaced by StartTlsAsync with pipes over the client's TLS stream.
    private PipeReader _replies;
    private PipeWriter _commands;
    private SslStream? _tls;

    internal InMemorySmtpClient(PipeReader replies, PipeWriter commands, Task<ServedSession> served)
    {
        _replies = _rawReplies = replies;
        _commands = _rawCommands = commands;
        _served = served;
    }

    /// <summary>How long a read waits for the server before the test fails (a hang must not stall the run).</summary>
    public static TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The session's result once it has ended (messages accepted, why it closed).</summary>
    public Task<ServedSession> Served => _served;

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _commands.WriteAsync(bytes);
    }

    /// <summary>The client's TLS handshake over the in-memory pipe (after 220 to STARTTLS, or at once on an implicit-TLS
    /// listener), once every clear-text reply has been read; the server's certificate is not checked.</summary>
    public async Task StartTlsAsync()
    {
        var ssl = new SslStream(new DuplexPipeStream(_rawReplies, _rawCommands), leaveInnerStreamOpen: true, (_, _, _, _) => true);
        using var timeout = new CancellationTokenSource(ReadTimeout);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mta.test" }, timeout.Token);
        _tls = ssl;
        _replies = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));
        _commands = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
    }

    /// <summary>Sends one command line (CRLF added) and reads its reply.</summary>
    public async Task<SmtpTestReply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task<SmtpTestReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new IOException("session closed while reading a reply; got: " + string.Join(" | ", lines));
            if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), out var code))
                throw new InvalidDataException("malformed reply line: " + line);
            lines.Add(line.Length > 4 ? line[4..] : "");
            if (line.Length == 3 || line[3] == ' ') return new SmtpTestReply(code, lines);
        }
    }

    /// <summary>True when the session has ended and every reply it sent has been read (the server closed).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        while (await ReadLineAsync() is not null)
        {
        }
        return true;
    }

    /// <summary>One reply line without its CRLF; null at the end of the session.</summary>
    public async Task<string?> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            var result = await _replies.ReadAsync(timeout.Token);
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is { } end)
            {
                var line = Encoding.UTF8.GetString(buffer.Slice(0, end).ToArray()).TrimEnd('\r');
                _replies.AdvanceTo(buffer.GetPosition(1, end));
                return line;
            }
            _replies.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return null;
        }
    }

    /// <summary>Closes the client's side (the session sees end of stream) and waits for the session to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_tls is not null)
        {
            await _commands.CompleteAsync();
            await _replies.CompleteAsync();
            try { await _tls.ShutdownAsync(); } catch (Exception) { }
            _tls.Dispose();
        }
        await _rawCommands.CompleteAsync();
        try { await _served.WaitAsync(TimeSpan.FromSeconds(30)); } catch (Exception) { }
        await _rawReplies.CompleteAsync();
    }
}

/// <summary>A Stream over the server's ends of two pipes, so the session's connection (and TLS) runs on them.</summary>
internal sealed class DuplexPipeStream(PipeReader input, PipeWriter output) : Stream
{
    private readonly Stream _in = input.AsStream(leaveOpen: true);
    private readonly Stream _out = output.AsStream(leaveOpen: true);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _in.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _in.ReadAsync(buffer, offset, count, cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => _in.Read(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _out.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _out.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _out.Write(buffer, offset, count);
    public override Task FlushAsync(CancellationToken cancellationToken) => _out.FlushAsync(cancellationToken);
    public override void Flush() => _out.Flush();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
