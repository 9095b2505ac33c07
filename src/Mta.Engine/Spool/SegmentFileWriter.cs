// How the spool's writer thread puts a batch into a segment file: one positioned write, then one data flush.
using Microsoft.Win32.SafeHandles;

namespace Mta.Engine.Spool;

/// <summary>The two system calls a group commit makes on a segment file. The spool takes them through this seam so
/// that tests can make them fail as a full or failing disk does (ENOSPC, EIO) without a hook in the spool itself.</summary>
internal interface ISegmentFileWriter
{
    /// <summary>Writes <paramref name="buffers"/> one after another at <paramref name="offset"/>.</summary>
    void Write(SafeFileHandle segment, IReadOnlyList<ReadOnlyMemory<byte>> buffers, long offset);

    /// <summary>Makes the written data durable (fdatasync).</summary>
    void FlushData(SafeFileHandle segment);
}

/// <summary>The real file system: <see cref="RandomAccess.Write(SafeFileHandle, IReadOnlyList{ReadOnlyMemory{byte}}, long)"/>
/// and <see cref="DurableIo.FlushData"/>.</summary>
internal sealed class SegmentFileWriter : ISegmentFileWriter
{
    public static SegmentFileWriter Instance { get; } = new();

    private SegmentFileWriter() { }

    public void Write(SafeFileHandle segment, IReadOnlyList<ReadOnlyMemory<byte>> buffers, long offset) =>
        RandomAccess.Write(segment, buffers, offset);

    public void FlushData(SafeFileHandle segment) => DurableIo.FlushData(segment);
}
