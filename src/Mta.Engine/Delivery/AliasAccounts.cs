// Who an alias's commands and files run as: the owner of the file that names them (statx), as a passwd account.
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mta.Engine.Delivery;

/// <summary>
/// The three lookups alias delivery needs, as functions so tests can stand in for the system: the owner uid of a file,
/// an account by uid and by name (getpwuid_r / getpwnam_r, so NSS sources count; <c>/etc/passwd</c> when libc cannot
/// be called).
/// </summary>
internal sealed record AliasAccounts(Func<string, uint?> OwnerOf, Func<uint, UnixAccount?> ByUid, Func<string, UnixAccount?> ByName)
{
    /// <summary>The running system's.</summary>
    public static AliasAccounts System { get; } = new(FileOwner, uid => Passwd.Find(uid, null), name => Passwd.Find(null, name));

    /// <summary>
    /// The account a <c>|command</c> or <c>/file</c> from <paramref name="file"/> runs as: the file's owner, or
    /// <paramref name="defaultUser"/> when root owns it (Postfix's <c>default_privs</c>). Null with a reason when the
    /// account cannot be found.
    /// </summary>
    public (UnixAccount? Account, string? Problem) RunAsFor(string file, string defaultUser)
    {
        if (OwnerOf(file) is not { } owner) return (null, $"cannot find the owner of {file}");
        if (owner != 0)
            return ByUid(owner) is { } account ? (account, null) : (null, $"the owner of {file} (uid {owner}) has no passwd entry");
        return ByName(defaultUser) is { } fallback ? (fallback, null) : (null, $"Aliases:DefaultUser '{defaultUser}' has no passwd entry");
    }

    private static uint? FileOwner(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        // struct statx has one layout on every architecture: stx_uid is the 32-bit field at offset 20.
        const int AtFdCwd = -100, StatxUid = 0x8, StatxSize = 256, UidOffset = 20;
        var buffer = Marshal.AllocHGlobal(StatxSize);
        try
        {
            return statx(AtFdCwd, path, 0, StatxUid, buffer) == 0 ? (uint)Marshal.ReadInt32(buffer, UidOffset) : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int statx(int dirfd, string path, int flags, uint mask, IntPtr buffer);

    /// <summary>passwd(5) lookups by uid or by name.</summary>
    private static class Passwd
    {
        private const int ERANGE = 34;
        // struct passwd on 64-bit glibc and musl: name, passwd (pointers), uid, gid (32-bit), gecos, dir, shell (pointers).
        private const int PasswdSize = 128;

        public static UnixAccount? Find(uint? uid, string? name)
        {
            if (OperatingSystem.IsWindows() || name is { Length: 0 }) return null;
            try
            {
                return FromLibc(uid, name);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                return FromFile(uid, name, "/etc/passwd");
            }
        }

        private static UnixAccount? FromLibc(uint? uid, string? name)
        {
            var pwd = Marshal.AllocHGlobal(PasswdSize);
            try
            {
                for (var size = 1024; size <= 1024 * 1024; size *= 4)
                {
                    var buffer = Marshal.AllocHGlobal(size);
                    try
                    {
                        var rc = uid is { } u ? getpwuid_r(u, pwd, buffer, (nuint)size, out var result)
                            : getpwnam_r(name!, pwd, buffer, (nuint)size, out result);
                        if (rc == ERANGE) continue;
                        if (rc != 0 || result == IntPtr.Zero) return null;
                        var p = IntPtr.Size;
                        return new UnixAccount(Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd)) ?? "",
                            (uint)Marshal.ReadInt32(pwd, 2 * p), (uint)Marshal.ReadInt32(pwd, 2 * p + 4),
                            Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 2 * p + 8 + p)) ?? "/",
                            Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 2 * p + 8 + 2 * p)) ?? "");
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

        private static UnixAccount? FromFile(uint? uid, string? name, string path)
        {
            try
            {
                foreach (var line in File.ReadLines(path))
                {
                    // name:passwd:uid:gid:gecos:dir:shell
                    var f = line.Split(':');
                    if (f.Length < 7 || !uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var u)
                        || !uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var g)) continue;
                    if (uid == u || (name is not null && f[0] == name)) return new UnixAccount(f[0], u, g, f[5], f[6]);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
            return null;
        }

        [DllImport("libc", SetLastError = false)]
        private static extern int getpwuid_r(uint uid, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);

        [DllImport("libc", SetLastError = false, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        private static extern int getpwnam_r(string name, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);
    }
}
