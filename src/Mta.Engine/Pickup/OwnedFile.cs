// Opens a maildrop file without following links and reads its owner from the open descriptor (statx), so a user
// cannot pass off another's file (a symbolic or hard link) as a submission of theirs, or theirs as root's.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mta.Engine.Pickup;

/// <summary>A regular maildrop file, open for reading, with the uid that owns it.</summary>
internal sealed class OwnedFile : IDisposable
{
    private OwnedFile(SafeFileHandle handle, uint ownerUid, long length)
    {
        Handle = handle;
        OwnerUid = ownerUid;
        Length = length;
    }

    public SafeFileHandle Handle { get; }
    public uint OwnerUid { get; }
    public long Length { get; }

    /// <summary>Opens <paramref name="path"/>; null with a reason when it is not a plain file with one link (a symbolic
    /// link, a hard link to another file, a device or a folder), and an IOException when it cannot be opened at all.</summary>
    public static OwnedFile? Open(string path, out string? refusal)
    {
        refusal = null;
        var fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | NoFollow);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ELOOP)
            {
                refusal = "a symbolic link";
                return null;
            }
            throw new IOException($"open {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var stat = new byte[StatxSize];
        if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, stat) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new IOException($"statx {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        }
        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink @16, u32 uid @20, u32 gid @24, u16 mode @28,
        // u16 pad, u64 ino @32, u64 size @40. The same on every architecture, unlike struct stat.
        var nlink = BitConverter.ToUInt32(stat, 16);
        var uid = BitConverter.ToUInt32(stat, 20);
        var mode = BitConverter.ToUInt16(stat, 28);
        var size = (long)BitConverter.ToUInt64(stat, 40);
        if ((mode & S_IFMT) != S_IFREG) refusal = "not a regular file";
        else if (nlink != 1) refusal = $"a file with {nlink} links";
        if (refusal is not null)
        {
            handle.Dispose();
            return null;
        }
        return new OwnedFile(handle, uid, size);
    }

    /// <summary>The whole file, when it is at most <paramref name="maxBytes"/> long; null when longer.</summary>
    public async Task<byte[]?> ReadAllAsync(long maxBytes, CancellationToken cancellationToken)
    {
        if (Length > maxBytes) return null;
        var bytes = new byte[Length];
        var read = 0;
        while (read < bytes.Length)
        {
            var n = await RandomAccess.ReadAsync(Handle, bytes.AsMemory(read), read, cancellationToken);
            if (n == 0) break;
            read += n;
        }
        return read == bytes.Length ? bytes : bytes[..read];
    }

    public void Dispose() => Handle.Dispose();

    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, ELOOP = 40, AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int StatxSize = 256, S_IFMT = 0xF000, S_IFREG = 0x8000;

    // O_NOFOLLOW is 0400000 on x86 and most others, 0100000 on ARM.
    private static readonly int NoFollow =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 ? 0x8000 : 0x20000;

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}
