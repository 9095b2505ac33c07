// A growable message body built from pooled chunks, so DATA never copies into one large array.
using System.Buffers;

namespace Mta.Engine.Buffers;

/// <summary>
/// Accumulates a message in 16 KiB chunks rented from the shared pool. The bytes can be read back
/// as a <see cref="ReadOnlySequence{T}"/>, optionally after a prefix (the trace header fields).
/// </summary>
public sealed class MessageBuffer : IBufferWriter<byte>, IDisposable
{
    private const int ChunkSize = 16 * 1024;
    private readonly List<byte[]> _chunks = [];
    private int _lastChunkUsed;

    public long Length { get; private set; }

    public void Advance(int count)
    {
        if (count < 0 || _chunks.Count == 0 || _lastChunkUsed + count > _chunks[^1].Length)
            throw new ArgumentOutOfRangeException(nameof(count));
        _lastChunkUsed += count;
        Length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _chunks[^1].AsMemory(_lastChunkUsed);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _chunks[^1].AsSpan(_lastChunkUsed);
    }

    private void EnsureSpace(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_chunks.Count > 0 && _chunks[^1].Length - _lastChunkUsed >= needed) return;
        _chunks.Add(ArrayPool<byte>.Shared.Rent(Math.Max(ChunkSize, needed)));
        _lastChunkUsed = 0;
    }

    /// <summary>The content, preceded by <paramref name="prefix"/> when given. Valid until the buffer is reset or disposed.</summary>
    public ReadOnlySequence<byte> AsSequence(ReadOnlyMemory<byte> prefix = default)
    {
        var blocks = new ReadOnlyMemory<byte>[_chunks.Count + 1];
        blocks[0] = prefix;
        for (var i = 0; i < _chunks.Count; i++)
            blocks[i + 1] = _chunks[i].AsMemory(0, i == _chunks.Count - 1 ? _lastChunkUsed : _chunks[i].Length);
        return Sequences.Join(blocks);
    }

    /// <summary>The content as separate blocks, for a gathered write. Valid until the buffer is reset or disposed.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> AsBlocks()
    {
        var blocks = new ReadOnlyMemory<byte>[_chunks.Count];
        for (var i = 0; i < _chunks.Count; i++)
            blocks[i] = _chunks[i].AsMemory(0, i == _chunks.Count - 1 ? _lastChunkUsed : _chunks[i].Length);
        return blocks;
    }

    /// <summary>Returns the chunks to the pool and empties the buffer for the next message.</summary>
    public void Reset()
    {
        foreach (var chunk in _chunks) ArrayPool<byte>.Shared.Return(chunk);
        _chunks.Clear();
        _lastChunkUsed = 0;
        Length = 0;
    }

    public void Dispose() => Reset();
}
