// Where DATA and BDAT content goes as it arrives: memory up to a threshold, then a body file in the queue directory.
using System.Buffers;
using Mta.Engine.Buffers;
using Mta.Engine.Spool;

namespace Mta.Engine.Receiver;

/// <summary>
/// Holds the message of one transaction while it arrives. The decoder writes into memory; after each piece of input
/// <see cref="FlushAsync"/> counts the new octets against the server-wide <see cref="DataBudget"/> and, once the message
/// is past <c>Limits:Data:MemoryThreshold</c>, moves what is in memory to a <see cref="SpoolBodyFile"/> that the spool
/// later commits by reference. So a session holds at most the threshold (small messages) or one write block (large
/// ones) in memory, however large the message.
/// </summary>
internal sealed class MessageSink(IMessageSpool spool, DataBudget budget, int memoryThreshold) : IBufferWriter<byte>, IDisposable
{
    // Large enough for few, efficient writes; small enough that a thousand spilling sessions hold little.
    private const int WriteBlock = 64 * 1024;

    private readonly MessageBuffer _memory = new();
    private SpoolBodyFile? _file;
    private long _reserved;
    // A spilled message whose header section was rewritten (forged fields removed): _head replaces its first
    // _replacedLength octets, so the file is never rewritten.
    private byte[]? _head;
    private long _replacedLength;

    /// <summary>The budget was used up: the rest of the message is read and dropped, and the answer is 451 4.3.1.</summary>
    public bool OverBudget { get; private set; }

    /// <summary>Writing the spill file failed; the rest is read and dropped, and the answer is 452 or 451.</summary>
    public Exception? WriteFailure { get; private set; }

    /// <summary>The message is in a body file, not in memory.</summary>
    public bool IsSpilled => _file is not null;

    /// <summary>Octets received and kept (before any header rewrite).</summary>
    private long Received => (_file?.Length ?? 0) + _memory.Length;

    /// <summary>The message's length as it stands (after a header rewrite).</summary>
    public long Length => _head is null ? Received : _head.Length + Received - _replacedLength;

    public void Advance(int count) => _memory.Advance(count);
    public Memory<byte> GetMemory(int sizeHint = 0) => _memory.GetMemory(sizeHint);
    public Span<byte> GetSpan(int sizeHint = 0) => _memory.GetSpan(sizeHint);

    /// <summary>Accounts for what was written since the last call and spills it when due; <paramref name="final"/>
    /// writes out everything (the message is complete).</summary>
    public async ValueTask FlushAsync(bool final, CancellationToken cancellationToken)
    {
        if (OverBudget || WriteFailure is not null)
        {
            _memory.Reset();
            return;
        }
        var received = Received;
        if (received > _reserved)
        {
            if (!budget.TryReserve(received - _reserved))
            {
                OverBudget = true;
                Drop();
                return;
            }
            _reserved = received;
        }
        try
        {
            if (_file is null)
            {
                if (_memory.Length <= memoryThreshold) return;
                _file = spool.CreateBodyFile();
                if (_file is null) return; // a spool without body files: the message stays in memory
            }
            if (_memory.Length >= WriteBlock || (final && _memory.Length > 0))
            {
                await _file.AppendAsync(_memory.AsBlocks(), cancellationToken).ConfigureAwait(false);
                _memory.Reset();
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteFailure = ex;
            Drop();
        }
    }

    /// <summary>The whole message, when it is in memory; null when spilled.</summary>
    public ReadOnlySequence<byte>? InMemory(ReadOnlyMemory<byte> prefix = default) => _file is null ? _memory.AsSequence(prefix) : null;

    /// <summary>The first octets of the message, at most <paramref name="max"/> when spilled (all of it in memory).</summary>
    public ReadOnlySequence<byte> Head(int max)
    {
        if (_file is null) return _memory.AsSequence();
        var buffer = new byte[(int)Math.Min(max, Length)];
        using var stream = OpenRead();
        stream.ReadExactly(buffer);
        return new ReadOnlySequence<byte>(buffer);
    }

    /// <summary>Replaces the first <paramref name="replacedLength"/> octets with <paramref name="head"/>.</summary>
    public void ReplaceHead(byte[] head, long replacedLength)
    {
        if (_file is null)
        {
            var rest = _memory.AsSequence().Slice(replacedLength).ToArray();
            _memory.Reset();
            _memory.Write(head);
            _memory.Write(rest);
            return;
        }
        // A second rewrite starts from the first one's result.
        if (_head is not null)
        {
            if (replacedLength < _head.Length) head = [.. head, .. _head.AsSpan((int)replacedLength)];
            replacedLength = _replacedLength + Math.Max(0, replacedLength - _head.Length);
        }
        _head = head;
        _replacedLength = replacedLength;
    }

    /// <summary>Replaces the whole message with <paramref name="parts"/> in memory (a milter's new body): a spill file is
    /// dropped, the octets already counted against the budget stay counted.</summary>
    public void ReplaceContent(byte[][] parts)
    {
        Drop();
        foreach (var part in parts) _memory.Write(part);
    }

    /// <summary>A stream over <paramref name="prefix"/> and the message.</summary>
    public Stream OpenRead(byte[]? prefix = null)
    {
        if (_file is null) return new SequenceStream(_memory.AsSequence(prefix));
        return new ConcatenatedStream(
            new MemoryStream(prefix ?? [], writable: false),
            new MemoryStream(_head ?? [], writable: false),
            _file.OpenRead(_replacedLength));
    }

    /// <summary>Commits a spilled message: <paramref name="prefix"/> and the rewritten head go in the record, the file
    /// is referred to from there.</summary>
    public ValueTask CommitSpilledAsync(SpoolEnvelope envelope, byte[] prefix, CancellationToken cancellationToken)
    {
        var file = _file ?? throw new InvalidOperationException("the message is not spilled");
        byte[] inline = _head is null ? prefix : [.. prefix, .. _head];
        return spool.CommitAsync(envelope, inline, file, _replacedLength, cancellationToken);
    }

    /// <summary>Empties the sink for the next message: memory back to the pool, an uncommitted file deleted, the budget
    /// given back.</summary>
    public void Reset()
    {
        Drop();
        budget.Release(_reserved);
        _reserved = 0;
        OverBudget = false;
        WriteFailure = null;
    }

    private void Drop()
    {
        _memory.Reset();
        _file?.Dispose();
        _file = null;
        _head = null;
        _replacedLength = 0;
    }

    public void Dispose() => Reset();
}
