// Maps a uid to its login name (getpwuid_r, so NSS sources such as LDAP count; /etc/passwd when libc cannot be called).
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mta.Engine.Terminal;

/// <summary>Login names of local uids, for identifying a control-socket peer.</summary>
internal static partial class UnixUsers
{
    private const int ERANGE = 34;
    // struct passwd is 48 bytes on 64-bit glibc and musl (name, passwd, uid, gid, gecos, dir, shell); more is harmless.
    private const int PasswdSize = 128;

    /// <summary>The login name of <paramref name="uid"/>, or null when the system knows none.</summary>
    internal static string? NameOf(uint uid)
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            return FromLibc(uid);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return FromPasswdFile(uid, "/etc/passwd");
        }
    }

    private static string? FromLibc(uint uid)
    {
        var pwd = Marshal.AllocHGlobal(PasswdSize);
        try
        {
            for (var size = 1024; size <= 1024 * 1024; size *= 4)
            {
                var buffer = Marshal.AllocHGlobal(size);
                try
                {
                    var rc = getpwuid_r(uid, pwd, buffer, (nuint)size, out var result);
                    if (rc == ERANGE) continue;
                    if (rc != 0 || result == IntPtr.Zero) return null;
                    // pw_name is the struct's first member.
                    var name = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd));
                    return string.IsNullOrEmpty(name) ? null : name;
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

    /// <summary>Looks <paramref name="uid"/> up in a passwd(5) file; null when it is not there or cannot be read.</summary>
    internal static string? FromPasswdFile(uint uid, string path)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                // name:passwd:uid:gid:gecos:dir:shell
                var fields = line.Split(':');
                if (fields.Length < 3 || fields[0].Length == 0 || fields[0].StartsWith('#')) continue;
                if (uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var u) && u == uid) return fields[0];
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int getpwuid_r(uint uid, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);
}
