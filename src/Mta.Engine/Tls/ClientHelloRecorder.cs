// Passes a connection through to SslStream and keeps a copy of the first TLS record read, so the certificate can be
// chosen from the client's ClientHello (which .NET's SslClientHelloInfo does not expose beyond SNI).
using System.Net.Security;

namespace Mta.Engine.Tls;

/// <summary>A server SslStream over a <see cref="ClientHelloRecorder"/>, which it keeps at hand for the handshake.</summary>
internal sealed class RecordingSslStream(ClientHelloRecorder recorder) : SslStream(recorder, leaveInnerStreamOpen: true)
{
    public ClientHelloRecorder Recorder => recorder;
}

/// <summary>
/// A pass-through stream that records the first TLS record as SslStream reads it. SslStream reads the whole ClientHello
/// before it calls its <c>ServerOptionsSelectionCallback</c>, so by then <see cref="TakeHello"/> can parse it; nothing is
/// read ahead or replayed. Does not own the inner stream.
/// </summary>
internal sealed class ClientHelloRecorder(Stream inner) : Stream
{
    // A record is at most 2^14 octets plus its 5-octet header (RFC 8446 5.1); a ClientHello is usually under 2 KiB.
    private const int MaxRecord = 5 + 16384;
    private byte[]? _record = new byte[2048];
    private int _recorded;

    /// <summary>The ClientHello read so far, or null when it was not a whole ClientHello; stops the recording.</summary>
    public ClientHello? TakeHello()
    {
        var hello = _record is null ? null : ClientHello.TryParse(_record.AsSpan(0, _recorded));
        _record = null;
        return hello;
    }

    private void Record(ReadOnlySpan<byte> read)
    {
        if (_record is null || read.IsEmpty) return;
        var wanted = _recorded >= 5 ? Math.Min(MaxRecord, 5 + ((_record[3] << 8) | _record[4])) : MaxRecord;
        var take = Math.Min(read.Length, wanted - _recorded);
        if (take <= 0) return;
        if (_recorded + take > _record.Length) Array.Resize(ref _record, Math.Min(MaxRecord, Math.Max(_record.Length * 2, _recorded + take)));
        read[..take].CopyTo(_record.AsSpan(_recorded));
        _recorded += take;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Record(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Record(buffer[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override void Flush() => inner.Flush();

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
