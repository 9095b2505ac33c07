// Maps a login name to its uid (getpwnam_r, so NSS sources count; /etc/passwd when libc cannot be called).
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mta.Engine.Terminal;

internal static partial class UnixUsers
{
    // pw_uid follows pw_name and pw_passwd, two pointers, in glibc's and musl's struct passwd.
    private static readonly int UidOffset = 2 * IntPtr.Size;

    /// <summary>The uid of login name <paramref name="name"/>, or null when the system knows no such account.</summary>
    internal static uint? UidOf(string name)
    {
        if (OperatingSystem.IsWindows() || name.Length == 0) return null;
        try
        {
            return UidFromLibc(name);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return UidFromPasswdFile(name, "/etc/passwd");
        }
    }

    private static uint? UidFromLibc(string name)
    {
        var pwd = Marshal.AllocHGlobal(PasswdSize);
        try
        {
            for (var size = 1024; size <= 1024 * 1024; size *= 4)
            {
                var buffer = Marshal.AllocHGlobal(size);
                try
                {
                    var rc = getpwnam_r(name, pwd, buffer, (nuint)size, out var result);
                    if (rc == ERANGE) continue;
                    if (rc != 0 || result == IntPtr.Zero) return null;
                    return (uint)Marshal.ReadInt32(pwd, UidOffset);
                }
                finally
                {
                    Marshal.FreeHGlobal(buffer);
                }
            }
            return null;
        }
        finally
        {
            Marshal.FreeHGlobal(pwd);
        }
    }

    /// <summary>Looks <paramref name="name"/> up in a passwd(5) file; null when it is not there or cannot be read.</summary>
    internal static uint? UidFromPasswdFile(string name, string path)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                var fields = line.Split(':');
                if (fields.Length < 3 || fields[0] != name) continue;
                return uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int getpwnam_r([MarshalAs(UnmanagedType.LPUTF8Str)] string name, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);
}
