// A read-only, seekable Stream over several seekable streams one after another (a prefix in memory, a body on disk).
namespace Mta.Engine.Buffers;

public sealed class ConcatenatedStream : Stream
{
    private readonly Stream[] _parts;
    private readonly long[] _starts;
    private long _position;

    /// <param name="parts">Seekable streams with fixed lengths; all are disposed with this one.</param>
    public ConcatenatedStream(params Stream[] parts)
    {
        _parts = parts;
        _starts = new long[parts.Length + 1];
        for (var i = 0; i < parts.Length; i++) _starts[i + 1] = _starts[i] + parts[i].Length;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _starts[^1];

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || !Locate(out var part)) return 0;
        var stream = _parts[part];
        stream.Position = _position - _starts[part];
        var n = stream.Read(buffer[..(int)Math.Min(buffer.Length, _starts[part + 1] - _position)]);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || !Locate(out var part)) return 0;
        var stream = _parts[part];
        stream.Position = _position - _starts[part];
        var n = await stream.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _starts[part + 1] - _position)], cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>The part that holds <see cref="_position"/>; false at the end.</summary>
    private bool Locate(out int part)
    {
        for (part = 0; part < _parts.Length; part++)
            if (_position < _starts[part + 1]) return true;
        return false;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        SeekOrigin.End => Length + offset,
        _ => throw new ArgumentOutOfRangeException(nameof(origin)),
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var part in _parts) part.Dispose();
        base.Dispose(disposing);
    }
}
