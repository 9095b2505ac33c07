// fdatasync and directory fsync, which the BCL does not expose, for the spool and the Maildir writer.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mta.Engine.Spool;

internal static class DurableIo
{
    private const int EINTR = 4;
    private const int ENOSPC = 28;
    private const int EDQUOT = 122;

    /// <summary>Flushes a file's data (and the metadata needed to read it back, such as its size) to disk.</summary>
    public static void FlushData(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }
        // fdatasync skips the timestamp update that fsync forces, which matters for an append log fsync'd per batch.
        var fd = (int)handle.DangerousGetHandle();
        int rc;
        while ((rc = fdatasync(fd)) != 0 && Marshal.GetLastPInvokeError() == EINTR) { }
        if (rc != 0) throw ErrnoException("fdatasync", Marshal.GetLastPInvokeError());
    }

    /// <summary>Makes a directory's entries (a created, renamed or deleted file) durable. A no-op where the
    /// file system journals directory changes itself (Windows).</summary>
    public static void FlushDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        var fd = open(path, 0 /* O_RDONLY */);
        if (fd < 0) throw ErrnoException($"open directory {path}", Marshal.GetLastPInvokeError());
        try
        {
            int rc;
            while ((rc = fsync(fd)) != 0 && Marshal.GetLastPInvokeError() == EINTR) { }
            if (rc != 0) throw ErrnoException($"fsync directory {path}", Marshal.GetLastPInvokeError());
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>True when an I/O failure means the disk or quota is full.</summary>
    public static bool IsDiskFull(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            // On Unix .NET puts the errno in HResult; on Windows it is the HRESULT of ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL.
            if (ex is IOException && ex.HResult is ENOSPC or EDQUOT or unchecked((int)0x80070070) or unchecked((int)0x80070027))
                return true;
        }
        return false;
    }

    private static IOException ErrnoException(string what, int errno) =>
        new($"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);

    [DllImport("libc", SetLastError = true)]
    private static extern int fdatasync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int flock(int fd, int operation);

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int renameat2(int olddirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath,
        int newdirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath, uint flags);

    private const int LOCK_EX = 2, LOCK_NB = 4, EWOULDBLOCK = 11, AT_FDCWD = -100, EEXIST = 17;
    private const uint RENAME_NOREPLACE = 1;

    /// <summary>
    /// Takes an exclusive advisory lock on an open file, failing at once when another process holds it. Explicit,
    /// because the runtime's implicit FileShare locking is switched off (System.IO.DisableFileLocking) to spare
    /// two flock calls per delivered file.
    /// </summary>
    public static bool TryLockExclusive(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows()) return true; // FileShare.None already locks on Windows
        var rc = flock((int)handle.DangerousGetHandle(), LOCK_EX | LOCK_NB);
        if (rc == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EWOULDBLOCK) return false;
        throw ErrnoException("flock", errno);
    }

    /// <summary>Renames a file, failing when the target exists; one syscall on Linux instead of File.Move's checks.</summary>
    public static void RenameNoReplace(string source, string target)
    {
        if (OperatingSystem.IsLinux())
        {
            if (renameat2(AT_FDCWD, source, AT_FDCWD, target, RENAME_NOREPLACE) == 0) return;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EEXIST) throw new IOException($"rename {source} -> {target}: target exists", errno);
            const int ENOSYS = 38, EINVAL = 22;
            if (errno is not (ENOSYS or EINVAL)) throw ErrnoException($"rename {source} -> {target}", errno);
            // Old kernel or a file system without RENAME_NOREPLACE: fall back.
        }
        File.Move(source, target, overwrite: false);
    }
}
