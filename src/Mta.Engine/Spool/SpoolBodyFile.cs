// A message body written to the queue directory while it arrives; committed by reference, never copied again.
using Microsoft.Win32.SafeHandles;

namespace Mta.Engine.Spool;

/// <summary>
/// A temporary file (<c>*.tmp</c>) in the queue directory that a receiving session appends a large message to, keeping a
/// running CRC32C. <see cref="SegmentSpool.CommitAsync(SpoolEnvelope, ReadOnlyMemory{byte}, SpoolBodyFile, long, CancellationToken)"/>
/// makes it durable and renames it to <c>QUEUEID.body</c>; disposing a file that was not committed deletes it, and a
/// <c>*.tmp</c> a crash left behind is deleted at the next start.
/// </summary>
public sealed class SpoolBodyFile : IDisposable
{
    private SafeFileHandle? _handle;

    private SpoolBodyFile(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <summary>Where the file is now: the temporary name, then the body name once committed.</summary>
    public string Path { get; internal set; }

    /// <summary>Octets written.</summary>
    public long Length { get; private set; }

    /// <summary>CRC32C of the octets written.</summary>
    public uint Crc { get; private set; }

    /// <summary>Set by the spool once a committed record refers to the file: it is the spool's to delete then.</summary>
    internal bool Committed { get; set; }

    internal SafeFileHandle Handle => _handle ?? throw new ObjectDisposedException(nameof(SpoolBodyFile));

    internal static SpoolBodyFile Create(string directory)
    {
        var path = System.IO.Path.Combine(directory, "body-" + QueueIds.Next() + SpoolFormat.TempExtension);
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return new SpoolBodyFile(path, handle);
    }

    /// <summary>Appends <paramref name="blocks"/> (written to the page cache; made durable at commit).</summary>
    public async ValueTask AppendAsync(IReadOnlyList<ReadOnlyMemory<byte>> blocks, CancellationToken cancellationToken)
    {
        var crc = Crc;
        long added = 0;
        foreach (var block in blocks)
        {
            crc = SpoolFormat.Crc32C(crc, block.Span);
            added += block.Length;
        }
        await RandomAccess.WriteAsync(Handle, blocks, Length, cancellationToken).ConfigureAwait(false);
        Length += added;
        Crc = crc;
    }

    /// <summary>A read-only stream over octets <paramref name="start"/>.. of the file (which stays open).</summary>
    public Stream OpenRead(long start = 0) => new SpoolSliceStream(Handle, start, Length - start, ownsHandle: false);

    public void Dispose()
    {
        var handle = Interlocked.Exchange(ref _handle, null);
        if (handle is null) return;
        handle.Dispose();
        if (Committed) return;
        try { File.Delete(Path); }
        catch (IOException) { /* left as *.tmp or an unreferenced *.body: deleted at the next start */ }
        catch (UnauthorizedAccessException) { }
    }
}
