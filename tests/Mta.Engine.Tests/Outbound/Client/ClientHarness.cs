// Shared pieces of the SMTP client tests: settings, targets, envelopes, an in-memory message and a capturing logger.
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Protocol;
using Mta.Testing;

namespace Mta.Engine.Tests.Outbound.Client;

internal static class ClientHarness
{
    /// <summary>Every wait bounded well inside a test's own limit, so a hang fails as a timeout, not a stuck run.</summary>
    public static SmtpClientTimeouts Timeouts(TimeSpan? each = null)
    {
        var t = each ?? TimeSpan.FromSeconds(8);
        return new SmtpClientTimeouts
        {
            Connect = t, Greeting = t, Command = t, Mail = t, Rcpt = t, DataInitiation = t, DataBlock = t, DataTermination = t,
        };
    }

    public static ConnectionSettings Settings(OutboundTlsPolicy tls = OutboundTlsPolicy.None, string? user = null, string? password = null,
        SmtpClientTimeouts? timeouts = null) =>
        new("client.test", tls, user, password, timeouts ?? Timeouts());

    public static SmtpTarget Target(TestSmtpServer server, string hostName = "test.local") => new(hostName, IPAddress.Loopback, server.Port);

    /// <summary>A token that ends the test after 20 s at the latest, tied to xunit's own.</summary>
    public static CancellationTokenSource Bound(int seconds = 20)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(seconds));
        return cts;
    }

    public static Task<SmtpClientConnection> OpenAsync(TestSmtpServer server, ConnectionSettings? settings, ILogger? logger, CancellationToken ct) =>
        SmtpClientConnection.OpenAsync(Target(server), settings ?? Settings(), logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ct);

    public static SmtpAddress Address(string text)
    {
        var at = text.LastIndexOf('@');
        return at < 0 ? new SmtpAddress(text, string.Empty) : new SmtpAddress(text[..at], text[(at + 1)..]);
    }

    public static OutboundEnvelope Envelope(TestMessage message, params string[] recipients) =>
        new(Address("sender@example.org"), [.. recipients.Select(r => new OutboundRecipient(Address(r)))], message.Size);

    public static TestMessage Message(string text = "Subject: test\r\n\r\nHello.\r\n") => new(Encoding.UTF8.GetBytes(text));
}

/// <summary>A message held in memory.</summary>
internal sealed class TestMessage(byte[] bytes) : IMessageContent
{
    public byte[] Bytes { get; } = bytes;
    public long Size => Bytes.Length;
    public Stream OpenRead() => new MemoryStream(Bytes, writable: false);
    public async ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default) =>
        await MimeMessage.LoadAsync(OpenRead(), cancellationToken);
}

/// <summary>A message whose stream fails half-way, as a spool read error would.</summary>
internal sealed class FailingMessage(int failAfter) : IMessageContent
{
    public long Size => failAfter * 2;
    public Stream OpenRead() => new FailingStream(failAfter);
    public ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

    private sealed class FailingStream(int failAfter) : Stream
    {
        private int _given;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _given; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_given >= failAfter) throw new IOException("disk on fire");
            var n = Math.Min(count, failAfter - _given);
            buffer.AsSpan(offset, n).Fill((byte)'x');
            _given += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Keeps every formatted log line, every level enabled, so tests can look for leaked secrets.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();
    public IReadOnlyCollection<string> Lines => _lines;
    public string All => string.Join("\n", _lines);
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue($"{logLevel} {eventId.Id} {formatter(state, exception)}");
}
