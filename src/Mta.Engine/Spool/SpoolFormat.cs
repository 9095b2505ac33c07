// The byte layout of spool segments, records and done-journal entries, and the CRC32C that guards them.
using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Mta.Engine.Spool;

/// <summary>
/// Segment file <c>NNNNNNNNNNNN.seg</c>: a 16-byte header ("MTASPOOL", version, reserved), then records back to back.
/// Record: magic "MTAR", int32 envelope length H, H bytes of envelope JSON, int64 message length M, M message bytes,
/// CRC32C of everything before it, end marker "MTAE". All integers little-endian.
/// Body-file record (a message the receiver spilled to disk as it arrived): magic "MTAB", int32 envelope length H, H bytes
/// of envelope JSON, int64 inline length P, P bytes (the prefix: trace fields, signatures, a rewritten header section),
/// int64 body start S, int64 body file length F, uint32 CRC32C of the whole body file, CRC32C of everything before it,
/// end marker "MTAE". The message is the P inline bytes then octets S..F of <c>QUEUEID.body</c> in the same directory,
/// which is fdatasync'd, renamed to its name and the directory fsync'd before the record is written.
/// A record that fails any check marks the end of the segment: it was never acknowledged.
/// Done journal <c>NNNNNNNNNNNN.done</c>: 20-byte entries (int64 record offset, int32 recipient index, int32 outcome,
/// CRC32C of the first 16 bytes).
/// Retry journal <c>NNNNNNNNNNNN.retry</c>: the deferral state of recipients, appended at each deferral; the last
/// entry of a recipient wins. Entry: magic "MTRY", int32 entry length, int64 record offset, int32 recipient index,
/// int32 attempts, int64 next attempt (Unix ms), int32 flags (1 = delay warning sent, 2 = on hold), int16 error length E, E bytes
/// of UTF-8 error text, CRC32C of everything before it.
/// </summary>
internal static class SpoolFormat
{
    public const int SegmentHeaderSize = 16;
    public const int RecordOverhead = 4 + 4 + 8 + 4 + 4;
    public const int JournalEntrySize = 20;
    public const int Version = 1;

    // Bounds used only to reject garbage during recovery before allocating for it.
    public const int MaxEnvelopeSize = 64 * 1024 * 1024;

    public static ReadOnlySpan<byte> SegmentMagic => "MTASPOOL"u8;
    public static ReadOnlySpan<byte> RecordMagic => "MTAR"u8;
    public static ReadOnlySpan<byte> BodyRecordMagic => "MTAB"u8;
    public const int BodyReferenceSize = 8 + 8 + 4;
    public const string BodyExtension = ".body";
    public const string TempExtension = ".tmp";

    /// <summary>The body file of a queue id; null when the id could name anything but a plain file in the queue directory.</summary>
    public static string? BodyFileName(string queueId) =>
        queueId.Length is > 0 and <= 64 && queueId.All(char.IsAsciiLetterOrDigit) ? queueId + BodyExtension : null;
    public static ReadOnlySpan<byte> EndMarker => "MTAE"u8;

    public static string SegmentFileName(long number) => number.ToString("D12", System.Globalization.CultureInfo.InvariantCulture) + ".seg";
    public static string JournalFileName(long number) => number.ToString("D12", System.Globalization.CultureInfo.InvariantCulture) + ".done";
    public static string RetryFileName(long number) => number.ToString("D12", System.Globalization.CultureInfo.InvariantCulture) + ".retry";

    public static ReadOnlySpan<byte> RetryMagic => "MTRY"u8;
    public const int RetryEntryOverhead = 4 + 4 + 8 + 4 + 4 + 8 + 4 + 2 + 4;
    // Enough for a server's reply line and the host that gave it; longer texts are cut.
    public const int MaxRetryErrorBytes = 1024;

    /// <summary>Appends one retry-journal entry to <paramref name="output"/>.</summary>
    public static void WriteRetryEntry(List<byte> output, long recordOffset, int recipientIndex, DeferralRecord record)
    {
        var error = System.Text.Encoding.UTF8.GetBytes(record.LastError ?? "");
        var errorLength = Math.Min(error.Length, MaxRetryErrorBytes);
        var entry = new byte[RetryEntryOverhead + errorLength];
        var span = entry.AsSpan();
        RetryMagic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], entry.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], recordOffset);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], recipientIndex);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], record.Attempts);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], record.NextAttempt.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteInt32LittleEndian(span[32..], (record.DelayWarned ? 1 : 0) | (record.Held ? 2 : 0));
        BinaryPrimitives.WriteInt16LittleEndian(span[36..], (short)errorLength);
        error.AsSpan(0, errorLength).CopyTo(span[38..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(38 + errorLength)..], Crc32C(0, span[..(38 + errorLength)]));
        output.AddRange(entry);
    }

    /// <summary>Reads retry-journal entries from the start of <paramref name="bytes"/> up to the first invalid one.</summary>
    /// <returns>The length of the valid prefix: a torn tail after it is overwritten by the next append.</returns>
    public static int ReadRetryEntries(ReadOnlySpan<byte> bytes, Dictionary<(long Offset, int Index), DeferralRecord> into)
    {
        var position = 0;
        while (position + RetryEntryOverhead <= bytes.Length)
        {
            var rest = bytes[position..];
            if (!rest[..4].SequenceEqual(RetryMagic)) break;
            var length = BinaryPrimitives.ReadInt32LittleEndian(rest[4..]);
            if (length < RetryEntryOverhead || length > RetryEntryOverhead + MaxRetryErrorBytes || length > rest.Length) break;
            var errorLength = BinaryPrimitives.ReadInt16LittleEndian(rest[36..]);
            if (errorLength < 0 || RetryEntryOverhead + errorLength != length) break;
            if (BinaryPrimitives.ReadUInt32LittleEndian(rest[(38 + errorLength)..]) != Crc32C(0, rest[..(38 + errorLength)])) break;
            var offset = BinaryPrimitives.ReadInt64LittleEndian(rest[8..]);
            var index = BinaryPrimitives.ReadInt32LittleEndian(rest[16..]);
            var attempts = BinaryPrimitives.ReadInt32LittleEndian(rest[20..]);
            var next = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(rest[24..]));
            var flags = BinaryPrimitives.ReadInt32LittleEndian(rest[32..]);
            var error = errorLength == 0 ? null : System.Text.Encoding.UTF8.GetString(rest.Slice(38, errorLength));
            into[(offset, index)] = new DeferralRecord(attempts, next, (flags & 1) != 0, error, (flags & 2) != 0);
            position += length;
        }
        return position;
    }

    public static byte[] SegmentHeader()
    {
        var header = new byte[SegmentHeaderSize];
        SegmentMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), Version);
        return header;
    }

    public static bool IsSegmentHeader(ReadOnlySpan<byte> header) =>
        header.Length >= SegmentHeaderSize && header[..8].SequenceEqual(SegmentMagic)
        && BinaryPrimitives.ReadInt32LittleEndian(header[8..]) == Version;

    /// <summary>Serialises one record into a buffer; the caller gives it back with <see cref="ReturnRecordBuffer"/>.</summary>
    /// <returns>The buffer, the record's length, and the offset of the message bytes within the record.</returns>
    public static (byte[] Buffer, int Length, int MessageOffset) BuildRecord(SpoolEnvelope envelope, in ReadOnlySequence<byte> message)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(envelope, SpoolJsonContext.Default.SpoolEnvelope);
        var total = (long)RecordOverhead + json.Length + message.Length;
        if (total > int.MaxValue - 64) throw new SpoolWriteException($"message of {message.Length} octets is too large for the spool", isDiskFull: false);
        var buffer = RentRecordBuffer((int)total);
        var span = buffer.AsSpan(0, (int)total);
        RecordMagic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], json.Length);
        json.CopyTo(span[8..]);
        var pos = 8 + json.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[pos..], message.Length);
        pos += 8;
        var messageOffset = pos;
        message.CopyTo(span[pos..]);
        pos += (int)message.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(span[pos..], Crc32C(0, span[..pos]));
        EndMarker.CopyTo(span[(pos + 4)..]);
        return (buffer, (int)total, messageOffset);
    }

    /// <summary>Serialises a body-file record (see the type's summary) into a pooled buffer, as <see cref="BuildRecord"/>.</summary>
    public static (byte[] Buffer, int Length, int MessageOffset) BuildBodyRecord(SpoolEnvelope envelope, ReadOnlySpan<byte> prefix,
        long bodyStart, long bodyFileLength, uint bodyCrc)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(envelope, SpoolJsonContext.Default.SpoolEnvelope);
        var total = RecordOverhead + BodyReferenceSize + json.Length + prefix.Length;
        var buffer = RentRecordBuffer(total);
        var span = buffer.AsSpan(0, total);
        BodyRecordMagic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], json.Length);
        json.CopyTo(span[8..]);
        var pos = 8 + json.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[pos..], prefix.Length);
        pos += 8;
        var messageOffset = pos;
        prefix.CopyTo(span[pos..]);
        pos += prefix.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[pos..], bodyStart);
        BinaryPrimitives.WriteInt64LittleEndian(span[(pos + 8)..], bodyFileLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(pos + 16)..], bodyCrc);
        pos += BodyReferenceSize;
        BinaryPrimitives.WriteUInt32LittleEndian(span[pos..], Crc32C(0, span[..pos]));
        EndMarker.CopyTo(span[(pos + 4)..]);
        return (buffer, total, messageOffset);
    }

    // Records up to this size come from the shared pool; larger ones (whole large messages a plugin or a bounce commits)
    // are plain arrays the GC takes back, so a burst of them is not kept for ever by the pool.
    private const int MaxPooledRecord = 1024 * 1024;

    private static byte[] RentRecordBuffer(int length) =>
        length <= MaxPooledRecord ? ArrayPool<byte>.Shared.Rent(length) : GC.AllocateUninitializedArray<byte>(length);

    /// <summary>Gives a record buffer from <see cref="BuildRecord"/> or <see cref="BuildBodyRecord"/> back.</summary>
    public static void ReturnRecordBuffer(byte[] buffer)
    {
        if (buffer.Length <= MaxPooledRecord) ArrayPool<byte>.Shared.Return(buffer);
    }

    public static SpoolEnvelope ParseEnvelope(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, SpoolJsonContext.Default.SpoolEnvelope)
        ?? throw new InvalidDataException("empty envelope");

    public static void WriteJournalEntry(Span<byte> entry, long recordOffset, int recipientIndex, RecipientOutcome outcome)
    {
        BinaryPrimitives.WriteInt64LittleEndian(entry, recordOffset);
        BinaryPrimitives.WriteInt32LittleEndian(entry[8..], recipientIndex);
        BinaryPrimitives.WriteInt32LittleEndian(entry[12..], (int)outcome);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], Crc32C(0, entry[..16]));
    }

    public static bool TryReadJournalEntry(ReadOnlySpan<byte> entry, out long recordOffset, out int recipientIndex, out RecipientOutcome outcome)
    {
        recordOffset = BinaryPrimitives.ReadInt64LittleEndian(entry);
        recipientIndex = BinaryPrimitives.ReadInt32LittleEndian(entry[8..]);
        outcome = (RecipientOutcome)BinaryPrimitives.ReadInt32LittleEndian(entry[12..]);
        return BinaryPrimitives.ReadUInt32LittleEndian(entry[16..]) == Crc32C(0, entry[..16]);
    }

    /// <summary>CRC32C (Castagnoli) with the BCL's hardware-accelerated step; continue by passing the previous value.</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var w in words) crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? w : BinaryPrimitives.ReverseEndianness(w));
        foreach (var b in data[(words.Length * 8)..]) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }
}

/// <summary>A deferred recipient's retry state as the retry journal keeps it across restarts.</summary>
/// <param name="Attempts">Failed attempts so far.</param>
/// <param name="NextAttempt">When to try again.</param>
/// <param name="DelayWarned">A "delayed" DSN has been sent for this recipient.</param>
/// <param name="LastError">Why the last attempt failed.</param>
/// <param name="Held">The operator put it on hold (<c>mta queue hold</c>): after a restart it stays held, whatever
/// <paramref name="NextAttempt"/> says, until released.</param>
public readonly record struct DeferralRecord(int Attempts, DateTimeOffset NextAttempt, bool DelayWarned, string? LastError, bool Held = false);

/// <summary>A recipient's final outcome as journaled.</summary>
public enum RecipientOutcome
{
    /// <summary>Delivered (or discarded on purpose).</summary>
    Delivered = 1,
    /// <summary>Failed permanently (rejected, or expired after the queue lifetime).</summary>
    Failed = 2,
    /// <summary>Removed by the operator (<c>mta queue delete</c>), without a DSN.</summary>
    Deleted = 3,
}
