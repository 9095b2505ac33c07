// An IMessageContent over a byte array that counts how it is read, so tests can check the original is read once.
using Mta.Abstractions;
using MimeKit;

namespace Mta.Engine.Tests.Bounces;

internal sealed class InMemoryMessageContent(byte[] bytes, long? declaredSize = null) : IMessageContent
{
    private long _bytesRead;

    public InMemoryMessageContent(string text, long? declaredSize = null)
        : this(System.Text.Encoding.UTF8.GetBytes(text), declaredSize) { }

    /// <summary>Lets a test lie about the size, as a damaged spool record might.</summary>
    public long Size => declaredSize ?? bytes.Length;

    public int OpenCount { get; private set; }
    public int ParseCount { get; private set; }
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>Set to make OpenRead fail as a missing or unreadable spool file would.</summary>
    public Exception? OpenFailure { get; init; }

    public Stream OpenRead()
    {
        OpenCount++;
        if (OpenFailure is not null) throw OpenFailure;
        return new CountingStream(new MemoryStream(bytes, writable: false), n => Interlocked.Add(ref _bytesRead, n));
    }

    public ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
    {
        ParseCount++;
        return ValueTask.FromResult(MimeMessage.Load(new MemoryStream(bytes, writable: false), cancellationToken));
    }

    private sealed class CountingStream(Stream inner, Action<int> onRead) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) { var n = inner.Read(buffer, offset, count); onRead(n); return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            onRead(n);
            return n;
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }
}
