// Cuts a message stream into BDAT chunks of a fixed size, knowing which one is the last before it is sent.
using System.Buffers;

namespace Mta.Engine.Outbound.Client;

/// <summary>
/// Reads a message from its stream one chunk at a time into one pooled buffer, so a message of any size costs one
/// chunk of memory. A full chunk is followed by a one-octet look-ahead read: the chunk that ends the message is then
/// known before its BDAT line is written, and gets LAST, instead of an extra <c>BDAT 0 LAST</c> after it (that is
/// sent only for an empty message). Not thread-safe; dispose to return the buffer.
/// </summary>
internal sealed class MessageChunkReader : IDisposable
{
    private readonly Stream _content;
    private readonly int _chunkSize;
    private byte[]? _buffer;
    private readonly byte[] _peek = new byte[1];
    private bool _carry;
    private bool _ended;

    /// <param name="content">The message, read from its current position to its end.</param>
    /// <param name="chunkSize">Octets per chunk; every chunk but the last has exactly this many.</param>
    public MessageChunkReader(Stream content, int chunkSize)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        _content = content;
        _chunkSize = chunkSize;
        _buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
    }

    /// <summary>The chunk read by the last <see cref="ReadNextAsync"/>; valid until the next call.</summary>
    public ReadOnlyMemory<byte> Current { get; private set; }

    /// <summary>True when <see cref="Current"/> ends the message.</summary>
    public bool IsLast { get; private set; }

    /// <summary>Octets handed out so far, <see cref="Current"/> included.</summary>
    public long TotalRead { get; private set; }

    /// <summary>Chunks handed out so far, <see cref="Current"/> included.</summary>
    public int Chunks { get; private set; }

    /// <summary>Reads the next chunk into <see cref="Current"/>.</summary>
    /// <returns>False when the last chunk was handed out already.</returns>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public async ValueTask<bool> ReadNextAsync(CancellationToken ct)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(MessageChunkReader));
        if (_ended) return false;
        var filled = 0;
        if (_carry)
        {
            buffer[0] = _peek[0];
            filled = 1;
            _carry = false;
        }
        while (filled < _chunkSize)
        {
            var read = await _content.ReadAsync(buffer.AsMemory(filled, _chunkSize - filled), ct).ConfigureAwait(false);
            if (read == 0)
            {
                _ended = true;
                break;
            }
            filled += read;
        }
        if (!_ended)
        {
            // A full chunk: one more octet says whether the message goes on.
            var more = await _content.ReadAsync(_peek.AsMemory(), ct).ConfigureAwait(false);
            if (more == 0) _ended = true;
            else _carry = true;
        }
        Current = buffer.AsMemory(0, filled);
        IsLast = _ended;
        TotalRead += filled;
        Chunks++;
        return true;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        Current = default;
    }
}
