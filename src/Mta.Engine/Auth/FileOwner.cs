// Who owns a file (statx) and handing a file to another owner (chown): for files root writes that the service user must read.
using System.Runtime.InteropServices;

namespace Mta.Engine.Auth;

/// <summary>File ownership on Linux, through libc (statx has one layout on every architecture, unlike stat).</summary>
internal static class FileOwner
{
    private const int AtFdCwd = -100;
    private const uint StatxUid = 0x8, StatxGid = 0x10;
    // struct statx: stx_mask u32 @0, stx_blksize u32 @4, stx_attributes u64 @8, stx_nlink u32 @16, stx_uid u32 @20, stx_gid u32 @24.
    private const int UidOffset = 20, GidOffset = 24, StatxSize = 256;

    /// <summary>True when this process runs as root (effective uid 0) on Linux.</summary>
    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>The owner and group of <paramref name="path"/>, or null when it cannot be read (not Linux, no such file).</summary>
    public static (uint Uid, uint Gid)? Of(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buffer = new byte[StatxSize];
        if (statx(AtFdCwd, path, 0, StatxUid | StatxGid, buffer) != 0) return null;
        return (BitConverter.ToUInt32(buffer, UidOffset), BitConverter.ToUInt32(buffer, GidOffset));
    }

    /// <summary>Gives <paramref name="path"/> to <paramref name="uid"/>:<paramref name="gid"/>.</summary>
    /// <exception cref="IOException">chown failed.</exception>
    public static void Change(string path, uint uid, uint gid)
    {
        if (chown(path, uid, gid) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"chown {path} to {uid}:{gid} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", SetLastError = true)]
    private static extern int chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);
}
