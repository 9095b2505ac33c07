// The durable spool: an append-only segment log with group commit, a per-segment done journal, and recovery.
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Mta.Engine.Configuration;

namespace Mta.Engine.Spool;

/// <summary>Where a record lives: its segment, its offset and length there, and the range of its message bytes
/// (<paramref name="MessageLength"/> is the whole message's). A message spilled to disk while it arrived has its first
/// <c>MessageLength - BodyLength</c> octets in the record and the rest in <paramref name="BodyFile"/> from
/// <paramref name="BodyStart"/>.</summary>
public readonly record struct SpoolLocation(long Segment, long Offset, int Length, long MessageOffset, long MessageLength,
    string? BodyFile = null, long BodyStart = 0, long BodyLength = 0);

/// <summary>A message in the spool, as handed to the queue manager after its commit or at recovery.</summary>
/// <param name="Envelope">The envelope as stored.</param>
/// <param name="Location">Where the record is.</param>
/// <param name="FinalRecipients">Indexes of recipients that already have a final outcome (from the done journal).</param>
/// <param name="Deferrals">Retry state of recipients deferred before a restart (from the retry journal), by index.</param>
public sealed record SpooledMessage(SpoolEnvelope Envelope, SpoolLocation Location, IReadOnlySet<int> FinalRecipients,
    IReadOnlyDictionary<int, DeferralRecord>? Deferrals = null);

/// <summary>Counters for tests, benchmarks and diagnostics.</summary>
/// <param name="Commits">Records acknowledged.</param>
/// <param name="Batches">Write+fsync rounds that acknowledged at least one record (group commits).</param>
/// <param name="FailedBatches">Rounds that failed; their records were never acknowledged.</param>
/// <param name="SegmentsCreated">Segment files created.</param>
/// <param name="SegmentsDeleted">Segment files deleted because all their recipients were final.</param>
/// <param name="JournalEntries">Final outcomes journaled.</param>
/// <param name="JournalBatches">Journal write+fsync rounds.</param>
public readonly record struct SpoolStatistics(long Commits, long Batches, long FailedBatches, long SegmentsCreated,
    long SegmentsDeleted, long JournalEntries, long JournalBatches);

/// <summary>
/// <see cref="IMessageSpool"/> over append-only segment files in <see cref="MtaPaths.QueueDirectory"/>.
/// One writer thread takes every commit pending at that moment, writes them with one positioned write and
/// makes them durable with one fdatasync, then acknowledges them all: concurrent sessions share fsyncs (group
/// commit), which is what lets a single disk acknowledge thousands of messages a second. A second thread does the
/// same for the per-segment done journals. A segment is deleted once it is no longer written to and every
/// recipient of every record in it has a final outcome. Only one process may open a queue directory.
/// </summary>
public sealed partial class SegmentSpool : IMessageSpool, IAsyncDisposable, IDisposable
{
    private const int MaxBatchRecords = 1024;
    private const long MaxBatchBytes = 16L * 1024 * 1024;

    private readonly string _directory;
    private readonly long _segmentSize;
    private readonly ILogger _logger;
    private readonly ISegmentFileWriter _files;
    private readonly Channel<PendingCommit> _commits = Channel.CreateUnbounded<PendingCommit>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<PendingMark> _marks = Channel.CreateUnbounded<PendingMark>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _gate = new();
    private readonly Dictionary<long, Segment> _segments = [];
    private readonly byte[] _segmentHeader = SpoolFormat.SegmentHeader();
    private Task<IReadOnlyList<SpooledMessage>>? _open;
    private Thread? _writer;
    private Thread? _journaler;
    private FileStream? _lockFile;
    private Segment? _active;
    private long _nextSegment = 1;
    // Unbounded: the writer thread must never wait for the queue; what it holds is envelopes of mail already on disk.
    // Not SingleReader: that variant cannot count, and the queue's idle check counts.
    private readonly Channel<SpooledMessage> _committed = Channel.CreateUnbounded<SpooledMessage>();
    private bool _disposed;

    private long _commitCount, _batchCount, _failedBatchCount, _segmentsCreated, _segmentsDeleted, _journalEntries, _journalBatches;

    public SegmentSpool(MtaOptions options, MtaPaths paths, ILogger<SegmentSpool> logger)
        : this(options, paths, logger, SegmentFileWriter.Instance)
    {
    }

    /// <summary>A spool whose segment writes and flushes go through <paramref name="files"/> (tests pass a failing one).</summary>
    internal SegmentSpool(MtaOptions options, MtaPaths paths, ILogger<SegmentSpool> logger, ISegmentFileWriter files)
    {
        _directory = paths.QueueDirectory;
        _segmentSize = options.Queue.SegmentSize;
        _logger = logger;
        _files = files;
    }

    /// <summary>The queue directory.</summary>
    public string Directory => _directory;

    public SpoolStatistics Statistics => new(Interlocked.Read(ref _commitCount), Interlocked.Read(ref _batchCount),
        Interlocked.Read(ref _failedBatchCount), Interlocked.Read(ref _segmentsCreated), Interlocked.Read(ref _segmentsDeleted),
        Interlocked.Read(ref _journalEntries), Interlocked.Read(ref _journalBatches));

    /// <summary>
    /// Opens the queue directory (once): takes its lock, validates every segment, truncates torn tails, applies the
    /// done journals and returns every message that still has a recipient without a final outcome, oldest first.
    /// New commits always go to a new segment. Later calls return the same list. Commits open the spool too.
    /// </summary>
    public Task<IReadOnlyList<SpooledMessage>> RecoverAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _open ??= Task.Run(Open, CancellationToken.None);
        }
        return _open.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Every acknowledged record, in commit order, written by the writer thread right after its fsync and before the
    /// committer is told: the queue's feed. The writer only hands it over; the queue reads it on its own thread, so a
    /// slow queue never holds up a commit.
    /// </summary>
    internal ChannelReader<SpooledMessage> Committed => _committed.Reader;

    public async ValueTask CommitAsync(SpoolEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        cancellationToken.ThrowIfCancellationRequested();
        // Serialise and checksum on the caller's thread so the single writer only concatenates and fsyncs.
        var (buffer, length, messageOffset) = SpoolFormat.BuildRecord(envelope, message);
        var pending = new PendingCommit(envelope, buffer, length, messageOffset);
        try
        {
            var open = _open;
            if (open is null || !open.IsCompletedSuccessfully)
                await RecoverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            SpoolFormat.ReturnRecordBuffer(buffer);
            throw new SpoolWriteException($"queue directory {_directory} could not be opened: {ex.Message}", DurableIo.IsDiskFull(ex), ex);
        }
        if (!_commits.Writer.TryWrite(pending))
        {
            SpoolFormat.ReturnRecordBuffer(buffer);
            throw new SpoolWriteException("the spool is shut down", isDiskFull: false);
        }
        await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public SpoolBodyFile? CreateBodyFile()
    {
        System.IO.Directory.CreateDirectory(_directory);
        return SpoolBodyFile.Create(_directory);
    }

    public async ValueTask CommitAsync(SpoolEnvelope envelope, ReadOnlyMemory<byte> prefix, SpoolBodyFile body, long bodyStart, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(body);
        var name = SpoolFormat.BodyFileName(envelope.QueueId) ?? throw new ArgumentException("queue id unfit for a file name", nameof(envelope));
        var target = Path.Combine(_directory, name);
        try
        {
            var open = _open;
            if (open is null || !open.IsCompletedSuccessfully)
                await RecoverAsync(cancellationToken).ConfigureAwait(false);
            // fdatasync blocks for as long as the disk takes to write the body: off the session's thread, and the
            // record that makes it count is written only after it returned.
            await Task.Run(() => DurableIo.FlushData(body.Handle), CancellationToken.None).ConfigureAwait(false);
            DurableIo.RenameNoReplace(body.Path, target);
            body.Path = target;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not SpoolWriteException)
        {
            throw new SpoolWriteException($"the message body could not be written to the queue: {ex.Message}", DurableIo.IsDiskFull(ex), ex);
        }
        var (buffer, length, messageOffset) = SpoolFormat.BuildBodyRecord(envelope, prefix.Span, bodyStart, body.Length, body.Crc);
        var pending = new PendingCommit(envelope, buffer, length, messageOffset)
        {
            BodyFile = name,
            BodyStart = bodyStart,
            BodyLength = body.Length - bodyStart,
            InlineLength = prefix.Length,
        };
        if (!_commits.Writer.TryWrite(pending))
        {
            SpoolFormat.ReturnRecordBuffer(buffer);
            throw new SpoolWriteException("the spool is shut down", isDiskFull: false);
        }
        // Not cancellable: whether the record reached the disk decides who deletes the body file.
        await pending.Completion.Task.ConfigureAwait(false);
        body.Committed = true;
    }

    /// <summary>Opens a read-only stream over a record's message bytes (the inline part, then the body file's).</summary>
    public Stream OpenMessage(SpoolLocation location)
    {
        var handle = File.OpenHandle(Path.Combine(_directory, SpoolFormat.SegmentFileName(location.Segment)),
            FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (location.BodyFile is null) return new SpoolSliceStream(handle, location.MessageOffset, location.MessageLength);
        var inline = new SpoolSliceStream(handle, location.MessageOffset, location.MessageLength - location.BodyLength);
        SafeFileHandle body;
        try
        {
            body = File.OpenHandle(Path.Combine(_directory, location.BodyFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch
        {
            inline.Dispose();
            throw;
        }
        return new Buffers.ConcatenatedStream(inline, new SpoolSliceStream(body, location.BodyStart, location.BodyLength));
    }

    /// <summary>
    /// Journals a deferred recipient's retry state (attempts, next attempt, last error) and returns once it is durable,
    /// so that after a restart the recipient waits for its scheduled time instead of being retried at once.
    /// </summary>
    public async ValueTask RecordDeferralAsync(SpoolLocation location, int recipientIndex, DeferralRecord record, CancellationToken cancellationToken) =>
        await RecordDeferral(location, recipientIndex, record).WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Queues a retry-journal entry and returns the task that completes once it is durable. Entries reach the journal
    /// in the order of these calls, so a caller that queues under a recipient's lock journals its changes in the order
    /// they were made (a hold and a deferral racing for one recipient end on disk as they ended in memory).
    /// </summary>
    internal Task RecordDeferral(SpoolLocation location, int recipientIndex, DeferralRecord record)
    {
        var mark = new PendingMark(location, recipientIndex, default, record);
        if (!_marks.Writer.TryWrite(mark)) return Task.FromException(new ObjectDisposedException(nameof(SegmentSpool)));
        return mark.Completion.Task;
    }

    /// <summary>
    /// Journals a recipient's final outcome and returns once it is durable. When the last recipient of a sealed
    /// segment becomes final, the segment and its journal are deleted.
    /// </summary>
    public async ValueTask MarkFinalAsync(SpoolLocation location, int recipientIndex, RecipientOutcome outcome, CancellationToken cancellationToken)
    {
        var mark = new PendingMark(location, recipientIndex, outcome);
        if (!_marks.Writer.TryWrite(mark)) throw new ObjectDisposedException(nameof(SegmentSpool));
        await mark.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        Task? open;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            open = _open;
        }
        // An Open still running on the pool would start the threads after we joined them: let it finish first.
        try { open?.Wait(); } catch (Exception) { /* a failed open started nothing */ }
        _commits.Writer.TryComplete();
        _marks.Writer.TryComplete();
        _writer?.Join();
        _journaler?.Join();
        lock (_gate)
        {
            foreach (var segment in _segments.Values) segment.CloseHandles();
            _segments.Clear();
        }
        _lockFile?.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        // Joining the threads waits at most for one in-flight write+fsync.
        Dispose();
        return ValueTask.CompletedTask;
    }

    private IReadOnlyList<SpooledMessage> Open()
    {
        System.IO.Directory.CreateDirectory(_directory);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // An exclusive advisory lock (flock): two spools on one directory would corrupt it.
        var lockFile = new FileStream(Path.Combine(_directory, "spool.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        bool locked;
        try
        {
            locked = DurableIo.TryLockExclusive(lockFile.SafeFileHandle);
        }
        catch (IOException ex)
        {
            lockFile.Dispose();
            throw new IOException($"queue directory {_directory} could not be locked: {ex.Message}", ex);
        }
        if (!locked)
        {
            lockFile.Dispose();
            throw new IOException($"queue directory {_directory} is in use by another process");
        }
        _lockFile = lockFile;
        var recovered = Recover();
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "mta-spool-writer" };
        _journaler = new Thread(JournalLoop) { IsBackground = true, Name = "mta-spool-journal" };
        _writer.Start();
        _journaler.Start();
        return recovered;
    }

    private List<SpooledMessage> Recover()
    {
        var started = Stopwatch.GetTimestamp();
        var numbers = new List<long>();
        foreach (var file in System.IO.Directory.EnumerateFiles(_directory, "*.seg"))
            if (long.TryParse(Path.GetFileNameWithoutExtension(file), out var n) && n > 0) numbers.Add(n);
        numbers.Sort();
        var result = new List<SpooledMessage>();
        var changedDirectory = false;
        long pendingTotal = 0;
        var referencedBodies = new HashSet<string>(StringComparer.Ordinal);
        foreach (var number in numbers)
        {
            var path = Path.Combine(_directory, SpoolFormat.SegmentFileName(number));
            var bodies = new List<string>();
            var pending = RecoverSegment(number, path, result, bodies);
            if (pending == 0)
            {
                DeleteSegmentFiles(number);
                changedDirectory = true;
                continue;
            }
            pendingTotal += pending;
            var segment = new Segment(number, path, Path.Combine(_directory, SpoolFormat.JournalFileName(number)),
                Path.Combine(_directory, SpoolFormat.RetryFileName(number)))
            {
                Pending = pending,
                Sealed = true,
            };
            segment.Bodies.AddRange(bodies);
            referencedBodies.UnionWith(bodies);
            _segments[number] = segment;
        }
        // Bodies of sessions a crash interrupted (*.tmp), and of records that never reached the disk or whose segment
        // is gone (*.body): nothing refers to them.
        foreach (var file in System.IO.Directory.EnumerateFiles(_directory, "body-*" + SpoolFormat.TempExtension)
                     .Concat(System.IO.Directory.EnumerateFiles(_directory, "*" + SpoolFormat.BodyExtension)))
        {
            if (referencedBodies.Contains(Path.GetFileName(file))) continue;
            File.Delete(file);
            changedDirectory = true;
        }
        // A journal without its segment is left over from a crash between the deletes.
        foreach (var file in System.IO.Directory.EnumerateFiles(_directory, "*.done").Concat(System.IO.Directory.EnumerateFiles(_directory, "*.retry")))
        {
            if (!long.TryParse(Path.GetFileNameWithoutExtension(file), out var n) || !_segments.ContainsKey(n))
            {
                File.Delete(file);
                changedDirectory = true;
            }
        }
        if (changedDirectory) DurableIo.FlushDirectory(_directory);
        _nextSegment = numbers.Count > 0 ? numbers[^1] + 1 : 1;
        LogRecovered(result.Count, pendingTotal, _segments.Count, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    /// <summary>Reads one segment into <paramref name="result"/>; returns its count of recipients still pending.</summary>
    private int RecoverSegment(long number, string path, List<SpooledMessage> result, List<string> bodies)
    {
        var done = ReadJournal(Path.Combine(_directory, SpoolFormat.JournalFileName(number)));
        var retries = ReadRetryJournal(Path.Combine(_directory, SpoolFormat.RetryFileName(number)), out _);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var fileLength = RandomAccess.GetLength(handle);
        Span<byte> header = stackalloc byte[SpoolFormat.SegmentHeaderSize];
        if (fileLength < SpoolFormat.SegmentHeaderSize || RandomAccess.Read(handle, header, 0) < header.Length || !SpoolFormat.IsSegmentHeader(header))
        {
            // The header goes to disk with the first batch; without it nothing in the file was acknowledged.
            LogTornRecord(path, 0, fileLength);
            return 0;
        }
        long position = SpoolFormat.SegmentHeaderSize;
        var pending = 0;
        while (position < fileLength)
        {
            if (!TryReadRecord(handle, position, fileLength, out var record))
                break;
            var (envelope, length, messageOffset, inlineLength, body) = record;
            if (body is not null)
            {
                bodies.Add(body.File);
                if (!IsBodyIntact(body))
                {
                    // Acknowledged, so not torn: the record stays, but there is nothing whole to deliver.
                    LogBodyLost(body.File, envelope.QueueId);
                    position += length;
                    continue;
                }
            }
            var final = new HashSet<int>();
            if (done.TryGetValue(position, out var indexes))
                foreach (var i in indexes) if (i >= 0 && i < envelope.Recipients.Count) final.Add(i);
            var open = envelope.Recipients.Count - final.Count;
            if (open > 0)
            {
                Dictionary<int, DeferralRecord>? deferrals = null;
                for (var i = 0; i < envelope.Recipients.Count; i++)
                    if (!final.Contains(i) && retries.TryGetValue((position, i), out var deferral))
                        (deferrals ??= [])[i] = deferral;
                var location = body is null
                    ? new SpoolLocation(number, position, length, position + messageOffset, inlineLength)
                    : new SpoolLocation(number, position, length, position + messageOffset, inlineLength + body.FileLength - body.Start,
                        body.File, body.Start, body.FileLength - body.Start);
                result.Add(new SpooledMessage(envelope, location, final, deferrals));
                pending += open;
            }
            position += length;
        }
        if (position < fileLength)
        {
            // Everything from the first bad record on was never acknowledged: records are acknowledged in file order.
            LogTornRecord(path, position, fileLength - position);
            RandomAccess.SetLength(handle, position);
            DurableIo.FlushData(handle);
        }
        return pending;
    }

    /// <summary>A record as recovery reads it; <see cref="Body"/> is set for a body-file record.</summary>
    private readonly record struct RecordInfo(SpoolEnvelope Envelope, int Length, int MessageOffset, long InlineLength, BodyReference? Body);

    private sealed record BodyReference(string File, long Start, long FileLength, uint Crc);

    private static bool TryReadRecord(SafeFileHandle handle, long position, long fileLength, out RecordInfo record)
    {
        record = default;
        Span<byte> head = stackalloc byte[8];
        if (position + SpoolFormat.RecordOverhead > fileLength || RandomAccess.Read(handle, head, position) < 8) return false;
        var hasBody = head[..4].SequenceEqual(SpoolFormat.BodyRecordMagic);
        if (!hasBody && !head[..4].SequenceEqual(SpoolFormat.RecordMagic)) return false;
        var overhead = SpoolFormat.RecordOverhead + (hasBody ? SpoolFormat.BodyReferenceSize : 0);
        var envelopeLength = BinaryPrimitives.ReadInt32LittleEndian(head[4..]);
        if (envelopeLength is <= 0 or > SpoolFormat.MaxEnvelopeSize || position + overhead + envelopeLength > fileLength) return false;
        var envelopeAndLength = new byte[envelopeLength + 8];
        if (RandomAccess.Read(handle, envelopeAndLength, position + 8) < envelopeAndLength.Length) return false;
        var messageLength = BinaryPrimitives.ReadInt64LittleEndian(envelopeAndLength.AsSpan(envelopeLength));
        var total = (long)overhead + envelopeLength + messageLength;
        if (messageLength < 0 || total > int.MaxValue || position + total > fileLength) return false;

        var crc = SpoolFormat.Crc32C(0, head);
        crc = SpoolFormat.Crc32C(crc, envelopeAndLength);
        var chunk = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Max(messageLength, 16), 1 << 20));
        BodyReference? body = null;
        Span<byte> reference = stackalloc byte[SpoolFormat.BodyReferenceSize];
        try
        {
            var at = position + 16 + envelopeLength;
            for (var left = messageLength; left > 0;)
            {
                var n = RandomAccess.Read(handle, chunk.AsSpan(0, (int)Math.Min(left, chunk.Length)), at);
                if (n <= 0) return false;
                crc = SpoolFormat.Crc32C(crc, chunk.AsSpan(0, n));
                at += n;
                left -= n;
            }
            if (hasBody)
            {
                if (RandomAccess.Read(handle, reference, at) < reference.Length) return false;
                crc = SpoolFormat.Crc32C(crc, reference);
                at += reference.Length;
            }
            Span<byte> tail = stackalloc byte[8];
            if (RandomAccess.Read(handle, tail, at) < 8) return false;
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail) != crc || !tail[4..].SequenceEqual(SpoolFormat.EndMarker)) return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        SpoolEnvelope envelope;
        try
        {
            envelope = SpoolFormat.ParseEnvelope(envelopeAndLength.AsSpan(0, envelopeLength));
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
        if (hasBody)
        {
            var name = SpoolFormat.BodyFileName(envelope.QueueId);
            var start = BinaryPrimitives.ReadInt64LittleEndian(reference);
            var length = BinaryPrimitives.ReadInt64LittleEndian(reference[8..]);
            if (name is null || start < 0 || length < start) return false;
            body = new BodyReference(name, start, length, BinaryPrimitives.ReadUInt32LittleEndian(reference[16..]));
        }
        record = new RecordInfo(envelope, (int)total, 16 + envelopeLength, messageLength, body);
        return true;
    }

    /// <summary>True when a body file is there, whole, with the length and CRC32C its record gives.</summary>
    private bool IsBodyIntact(BodyReference body)
    {
        var path = Path.Combine(_directory, body.File);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (RandomAccess.GetLength(handle) != body.FileLength) return false;
            var chunk = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                uint crc = 0;
                for (long at = 0; at < body.FileLength;)
                {
                    var n = RandomAccess.Read(handle, chunk.AsSpan(0, (int)Math.Min(chunk.Length, body.FileLength - at)), at);
                    if (n <= 0) return false;
                    crc = SpoolFormat.Crc32C(crc, chunk.AsSpan(0, n));
                    at += n;
                }
                return crc == body.Crc;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static Dictionary<long, List<int>> ReadJournal(string path)
    {
        var done = new Dictionary<long, List<int>>();
        if (!File.Exists(path)) return done;
        var bytes = File.ReadAllBytes(path);
        // A partial last entry is a write the crash cut short; it was never acknowledged, so the recipient is retried.
        for (var i = 0; i + SpoolFormat.JournalEntrySize <= bytes.Length; i += SpoolFormat.JournalEntrySize)
        {
            if (!SpoolFormat.TryReadJournalEntry(bytes.AsSpan(i, SpoolFormat.JournalEntrySize), out var offset, out var index, out _))
                continue;
            if (!done.TryGetValue(offset, out var list)) done[offset] = list = [];
            list.Add(index);
        }
        return done;
    }

    private static Dictionary<(long Offset, int Index), DeferralRecord> ReadRetryJournal(string path, out int validLength)
    {
        var entries = new Dictionary<(long, int), DeferralRecord>();
        validLength = 0;
        if (!File.Exists(path)) return entries;
        validLength = SpoolFormat.ReadRetryEntries(File.ReadAllBytes(path), entries);
        return entries;
    }

    private void WriterLoop()
    {
        var batch = new List<PendingCommit>();
        var reader = _commits.Reader;
        // A dedicated thread blocks in write+fsync so no thread-pool thread (and no session) ever does.
        while (WaitToRead(reader))
        {
            long bytes = 0;
            while (batch.Count < MaxBatchRecords && bytes < MaxBatchBytes && reader.TryRead(out var commit))
            {
                batch.Add(commit);
                bytes += commit.Length;
            }
            WriteBatch(batch, bytes);
            batch.Clear();
        }
        lock (_gate)
        {
            _active?.CloseHandles();
            _active = null;
        }
    }

    private static bool WaitToRead<T>(ChannelReader<T> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    private void WriteBatch(List<PendingCommit> batch, long bytes)
    {
        Segment? segment = null;
        long start = 0;
        try
        {
            if (_active is { } current && current.Length > SpoolFormat.SegmentHeaderSize && current.Length + bytes > _segmentSize)
                Seal(current);
            segment = _active ??= CreateSegment();
            start = segment.Length;
            var buffers = new List<ReadOnlyMemory<byte>>(batch.Count + 1);
            var position = start;
            if (start == 0)
            {
                buffers.Add(_segmentHeader);
                position = SpoolFormat.SegmentHeaderSize;
            }
            var recipients = 0;
            var renamedBodies = false;
            foreach (var commit in batch)
            {
                commit.Offset = position;
                buffers.Add(commit.Buffer.AsMemory(0, commit.Length));
                position += commit.Length;
                recipients += commit.Envelope.Recipients.Count;
                renamedBodies |= commit.BodyFile is not null;
            }
            // A body file's new name must be durable before the record that refers to it can be: one directory fsync
            // serves every body in the batch.
            if (renamedBodies) DurableIo.FlushDirectory(_directory);
            _files.Write(segment.Handle!, buffers, start);
            _files.FlushData(segment.Handle!);
            if (segment.NeedsDirectorySync)
            {
                // The new file's name must be durable before any record in it is acknowledged.
                DurableIo.FlushDirectory(_directory);
                segment.NeedsDirectorySync = false;
            }
            lock (_gate)
            {
                segment.Length = position;
                segment.Pending += recipients;
                foreach (var commit in batch)
                    if (commit.BodyFile is not null) segment.Bodies.Add(commit.BodyFile);
            }
            Interlocked.Increment(ref _batchCount);
            Interlocked.Add(ref _commitCount, batch.Count);
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failedBatchCount);
            var diskFull = DurableIo.IsDiskFull(ex);
            LogBatchFailed(ex, batch.Count, diskFull);
            if (segment is not null)
            {
                // Cut the unacknowledged tail off and leave the segment: after a failed fsync the kernel may have
                // dropped dirty pages, so nothing more is trusted to this file. The next batch starts a new one.
                try { RandomAccess.SetLength(segment.Handle!, start); } catch (Exception) { /* recovery stops at the torn record */ }
                Seal(segment);
            }
            foreach (var commit in batch)
            {
                SpoolFormat.ReturnRecordBuffer(commit.Buffer);
                commit.Completion.TrySetException(new SpoolWriteException(
                    diskFull ? "the queue disk is full" : $"the message could not be written to the queue: {ex.Message}", diskFull, ex));
            }
            return;
        }

        foreach (var commit in batch)
        {
            SpoolFormat.ReturnRecordBuffer(commit.Buffer);
            var location = commit.BodyFile is null
                ? new SpoolLocation(segment.Number, commit.Offset, commit.Length, commit.Offset + commit.MessageOffset,
                    commit.Length - commit.MessageOffset - 8)
                : new SpoolLocation(segment.Number, commit.Offset, commit.Length, commit.Offset + commit.MessageOffset,
                    commit.InlineLength + commit.BodyLength, commit.BodyFile, commit.BodyStart, commit.BodyLength);
            _committed.Writer.TryWrite(new SpooledMessage(commit.Envelope, location, EmptySet));
            commit.Completion.TrySetResult();
        }
        if (segment.Length >= _segmentSize) Seal(segment);
    }

    private static readonly IReadOnlySet<int> EmptySet = new HashSet<int>();

    private Segment CreateSegment()
    {
        var number = _nextSegment++;
        var segment = new Segment(number, Path.Combine(_directory, SpoolFormat.SegmentFileName(number)),
            Path.Combine(_directory, SpoolFormat.JournalFileName(number)), Path.Combine(_directory, SpoolFormat.RetryFileName(number)));
        segment.Handle = File.OpenHandle(segment.Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        segment.NeedsDirectorySync = true;
        lock (_gate) _segments[number] = segment;
        Interlocked.Increment(ref _segmentsCreated);
        LogSegmentCreated(segment.Path);
        return segment;
    }

    /// <summary>Stops writing to a segment; deletes it at once when nothing in it is pending.</summary>
    private void Seal(Segment segment)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_active, segment)) _active = null;
            segment.Sealed = true;
            segment.Handle?.Dispose();
            segment.Handle = null;
            if (segment.Pending == 0) Retire(segment);
        }
    }

    // Called under _gate.
    private void Retire(Segment segment)
    {
        if (segment.Deleted) return;
        segment.Deleted = true;
        _segments.Remove(segment.Number);
        segment.CloseHandles();
        try
        {
            DeleteSegmentFiles(segment.Number);
            // After the segment: a body left without its record is deleted at the next start, never delivered.
            foreach (var body in segment.Bodies) File.Delete(Path.Combine(_directory, body));
            DurableIo.FlushDirectory(_directory);
            Interlocked.Increment(ref _segmentsDeleted);
            LogSegmentDeleted(segment.Path);
        }
        catch (Exception ex)
        {
            // Harmless: the next recovery finds every recipient final and deletes the files then.
            LogSegmentDeleteFailed(ex, segment.Path);
        }
    }

    private void DeleteSegmentFiles(long number)
    {
        // Segment first: a journal left without its segment is ignored, a segment without its journal is redelivered.
        File.Delete(Path.Combine(_directory, SpoolFormat.SegmentFileName(number)));
        File.Delete(Path.Combine(_directory, SpoolFormat.JournalFileName(number)));
        File.Delete(Path.Combine(_directory, SpoolFormat.RetryFileName(number)));
    }

    private void JournalLoop()
    {
        var batch = new List<PendingMark>();
        var reader = _marks.Reader;
        while (WaitToRead(reader))
        {
            while (batch.Count < 4096 && reader.TryRead(out var mark)) batch.Add(mark);
            foreach (var group in batch.GroupBy(m => m.Location.Segment))
            {
                // Deferrals first: a recipient deferred and then made final in one batch must end final.
                var deferrals = group.Where(m => m.Deferral is not null).ToList();
                if (deferrals.Count > 0) WriteRetryJournal(group.Key, deferrals);
                var finals = group.Where(m => m.Deferral is null).ToList();
                if (finals.Count > 0) WriteJournal(group.Key, finals);
            }
            Interlocked.Increment(ref _journalBatches);
            batch.Clear();
        }
    }

    /// <summary>
    /// Appends deferral states to the segment's retry journal. A failure loses only the schedule: after a restart these
    /// recipients are tried at once instead of at their time.
    /// </summary>
    private void WriteRetryJournal(long number, List<PendingMark> marks) => AppendMarks(number, marks, s => s.Retry, batch =>
    {
        var buffer = new List<byte>(batch.Count * 128);
        foreach (var mark in batch)
            SpoolFormat.WriteRetryEntry(buffer, mark.Location.Offset, mark.RecipientIndex, mark.Deferral!.Value);
        return buffer.ToArray();
    }, written: null);

    /// <summary>
    /// Appends final outcomes to the segment's done journal and retires the segment when nothing in it is pending. A
    /// failure leaves the recipients pending on disk: after a restart they are delivered again (at least once).
    /// </summary>
    private void WriteJournal(long number, List<PendingMark> marks) => AppendMarks(number, marks, s => s.Done, batch =>
    {
        var buffer = new byte[batch.Count * SpoolFormat.JournalEntrySize];
        for (var i = 0; i < batch.Count; i++)
            SpoolFormat.WriteJournalEntry(buffer.AsSpan(i * SpoolFormat.JournalEntrySize, SpoolFormat.JournalEntrySize),
                batch[i].Location.Offset, batch[i].RecipientIndex, batch[i].Outcome);
        return buffer;
    }, segment =>
    {
        Interlocked.Add(ref _journalEntries, marks.Count);
        lock (_gate)
        {
            segment.Pending -= marks.Count;
            if (segment.Pending <= 0 && segment.Sealed) Retire(segment);
        }
    });

    /// <summary>One durable append of a batch of marks to one of a segment's side files, then their acknowledgement.</summary>
    private void AppendMarks(long number, List<PendingMark> marks, Func<Segment, SideFile> side, Func<List<PendingMark>, byte[]> encode,
        Action<Segment>? written)
    {
        Segment? segment;
        lock (_gate) _segments.TryGetValue(number, out segment);
        if (segment is null)
        {
            // Every recipient of the segment became final meanwhile and it is gone: there is nothing left to record.
            foreach (var mark in marks) mark.Completion.TrySetResult();
            return;
        }
        var file = side(segment);
        try
        {
            file.Append(encode(marks), _directory);
            written?.Invoke(segment);
            foreach (var mark in marks) mark.Completion.TrySetResult();
        }
        catch (Exception ex)
        {
            LogJournalFailed(ex, file.Path);
            foreach (var mark in marks) mark.Completion.TrySetException(ex);
        }
    }

    /// <summary>
    /// An append-only file beside a segment (its done or retry journal), opened on first use. Appends start after the
    /// last valid entry, so a tail a crash cut short is overwritten rather than followed.
    /// </summary>
    private sealed class SideFile(string path, Func<SafeFileHandle, long> validLength)
    {
        private SafeFileHandle? _handle;
        private long _length;

        public string Path { get; } = path;

        /// <summary>Writes and fdatasyncs <paramref name="bytes"/>; a file created now also gets its directory entry synced.</summary>
        public void Append(byte[] bytes, string directory)
        {
            var created = false;
            if (_handle is null)
            {
                created = !File.Exists(Path);
                _handle = File.OpenHandle(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
                _length = created ? 0 : validLength(_handle);
            }
            RandomAccess.Write(_handle, bytes, _length);
            DurableIo.FlushData(_handle);
            if (created) DurableIo.FlushDirectory(directory);
            _length += bytes.Length;
        }

        public void Close()
        {
            _handle?.Dispose();
            _handle = null;
        }
    }

    private sealed class Segment(long number, string path, string journalPath, string retryPath)
    {
        public long Number { get; } = number;
        public string Path { get; } = path;
        public SafeFileHandle? Handle { get; set; }
        /// <summary>Final outcomes; fixed-size entries, so a torn last one is cut at the entry size.</summary>
        public SideFile Done { get; } = new(journalPath, h =>
        {
            var length = RandomAccess.GetLength(h);
            return length - length % SpoolFormat.JournalEntrySize;
        });
        /// <summary>Deferral states; variable-size entries, so the valid part is found by reading them.</summary>
        public SideFile Retry { get; } = new(retryPath, _ =>
        {
            ReadRetryJournal(retryPath, out var valid);
            return valid;
        });
        public long Length { get; set; }
        /// <summary>Recipients in this segment without a final outcome.</summary>
        public int Pending { get; set; }
        /// <summary>No longer written to: may be deleted once <see cref="Pending"/> reaches zero.</summary>
        public bool Sealed { get; set; }
        public bool Deleted { get; set; }
        public bool NeedsDirectorySync { get; set; }
        /// <summary>Body files its records refer to: deleted with the segment.</summary>
        public List<string> Bodies { get; } = [];

        public void CloseHandles()
        {
            Handle?.Dispose();
            Handle = null;
            Done.Close();
            Retry.Close();
        }
    }

    private sealed class PendingCommit(SpoolEnvelope envelope, byte[] buffer, int length, int messageOffset)
    {
        public SpoolEnvelope Envelope { get; } = envelope;
        public byte[] Buffer { get; } = buffer;
        public int Length { get; } = length;
        public int MessageOffset { get; } = messageOffset;
        public long Offset { get; set; }
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>The body file a body-file record refers to; null for a record that holds its whole message.</summary>
        public string? BodyFile { get; init; }
        public long BodyStart { get; init; }
        public long BodyLength { get; init; }
        public int InlineLength { get; init; }
    }

    private sealed class PendingMark(SpoolLocation location, int recipientIndex, RecipientOutcome outcome, DeferralRecord? deferral = null)
    {
        public SpoolLocation Location { get; } = location;
        public int RecipientIndex { get; } = recipientIndex;
        public RecipientOutcome Outcome { get; } = outcome;
        /// <summary>Set for a retry-journal entry; null for a final outcome.</summary>
        public DeferralRecord? Deferral { get; } = deferral;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = LogEvents.Spool.Recovered, Level = LogLevel.Information, Message = "Spool recovered {Messages} messages with {Recipients} pending recipients in {Segments} segments in {ElapsedMs:F0} ms")]
    private partial void LogRecovered(int messages, long recipients, int segments, double elapsedMs);

    [LoggerMessage(EventId = LogEvents.Spool.TornRecord, Level = LogLevel.Warning, Message = "Spool segment {Path}: discarded {Bytes} bytes of unacknowledged (torn) data at offset {Offset}")]
    private partial void LogTornRecord(string path, long offset, long bytes);

    [LoggerMessage(EventId = LogEvents.Spool.BatchFailed, Level = LogLevel.Error, Message = "Spool write of {Count} messages failed (disk full: {DiskFull}); none was acknowledged")]
    private partial void LogBatchFailed(Exception exception, int count, bool diskFull);

    [LoggerMessage(EventId = LogEvents.Spool.SegmentCreated, Level = LogLevel.Debug, Message = "Spool segment {Path} created")]
    private partial void LogSegmentCreated(string path);

    [LoggerMessage(EventId = LogEvents.Spool.SegmentDeleted, Level = LogLevel.Debug, Message = "Spool segment {Path} deleted: every recipient is final")]
    private partial void LogSegmentDeleted(string path);

    [LoggerMessage(EventId = LogEvents.Spool.SegmentDeleteFailed, Level = LogLevel.Warning, Message = "Spool segment {Path} could not be deleted; it will be removed at the next start")]
    private partial void LogSegmentDeleteFailed(Exception exception, string path);

    [LoggerMessage(EventId = LogEvents.Spool.BodyLost, Level = LogLevel.Error, Message = "Spool body file {File} of acknowledged message {QueueId} is missing or damaged; the message cannot be delivered")]
    private partial void LogBodyLost(string file, string queueId);

    [LoggerMessage(EventId = LogEvents.Spool.JournalFailed, Level = LogLevel.Error, Message = "Done journal {Path} could not be written; the recipients will be delivered again after a restart")]
    private partial void LogJournalFailed(Exception exception, string path);
}
