// Looks Unix accounts up by name and by uid (getpwnam_r/getpwuid_r, so NSS sources count), or in a passwd(5) file for tests.
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mta.Engine.Delivery;

/// <summary>
/// The passwd database as the local delivery agents see it: who an account is (uid, gid, home, shell), and whether this
/// server runs as root (only then can a delivery run as another user). By default the system's database through libc;
/// a test passes a passwd-format file and whether to act as root.
/// </summary>
public sealed partial class UnixAccounts
{
    private const int ERANGE = 34;
    // struct passwd is 48 bytes on 64-bit glibc and musl; more is harmless.
    private const int PasswdSize = 128;

    private readonly string? _passwdFile;

    /// <summary>The system's accounts; <see cref="RunsAsRoot"/> from the effective uid.</summary>
    public UnixAccounts() : this(null, null) { }

    /// <param name="passwdFile">A passwd(5) file to read instead of the system's database; null for the system's.</param>
    /// <param name="runsAsRoot">Whether to act as root (a test seam); null for the truth (the effective uid is 0).</param>
    public UnixAccounts(string? passwdFile, bool? runsAsRoot)
    {
        _passwdFile = passwdFile;
        RunsAsRoot = runsAsRoot ?? IsEffectiveRoot;
    }

    /// <summary>The shared instance for the system's accounts.</summary>
    public static UnixAccounts System { get; } = new();

    /// <summary>True when deliveries can (and so must) run as the account they are for: the server is root.</summary>
    public bool RunsAsRoot { get; }

    /// <summary>True when this process's effective uid is 0.</summary>
    public static bool IsEffectiveRoot => !OperatingSystem.IsWindows() && geteuid() == 0;

    /// <summary>This process's effective uid (0 on Windows, where it has no meaning).</summary>
    public static uint EffectiveUid => OperatingSystem.IsWindows() ? 0 : geteuid();

    /// <summary>The account named <paramref name="name"/>, or null when there is none.</summary>
    public UnixAccount? ByName(string name)
    {
        if (name.Length == 0 || name.Contains(':') || OperatingSystem.IsWindows()) return null;
        if (_passwdFile is not null) return FromFile(_passwdFile, f => f[0] == name);
        try
        {
            return Lookup((pwd, buffer, size) => (getpwnam_r(name, pwd, buffer, size, out var result), result));
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return FromFile("/etc/passwd", f => f[0] == name);
        }
    }

    /// <summary>The account with uid <paramref name="uid"/>, or null when there is none.</summary>
    public UnixAccount? ByUid(uint uid)
    {
        if (OperatingSystem.IsWindows()) return null;
        var text = uid.ToString(CultureInfo.InvariantCulture);
        if (_passwdFile is not null) return FromFile(_passwdFile, f => f[2] == text);
        try
        {
            return Lookup((pwd, buffer, size) => (getpwuid_r(uid, pwd, buffer, size, out var result), result));
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return FromFile("/etc/passwd", f => f[2] == text);
        }
    }

    /// <summary>True when the system's own database (not a test file) knows <paramref name="uid"/>: setpriv's
    /// <c>--init-groups</c> needs that.</summary>
    internal static bool SystemKnows(uint uid) => System.ByUid(uid) is not null;

    private delegate (int Rc, IntPtr Result) PasswdCall(IntPtr pwd, IntPtr buffer, nuint size);

    private static UnixAccount? Lookup(PasswdCall call)
    {
        var pwd = Marshal.AllocHGlobal(PasswdSize);
        try
        {
            for (var size = 1024; size <= 1024 * 1024; size *= 4)
            {
                var buffer = Marshal.AllocHGlobal(size);
                try
                {
                    var (rc, result) = call(pwd, buffer, (nuint)size);
                    if (rc == ERANGE) continue;
                    if (rc != 0 || result == IntPtr.Zero) return null;
                    return Read(pwd);
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

    // glibc's and musl's struct passwd: pw_name, pw_passwd (pointers), pw_uid, pw_gid (32-bit), pw_gecos, pw_dir, pw_shell.
    private static UnixAccount? Read(IntPtr pwd)
    {
        var p = IntPtr.Size;
        var name = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 0));
        if (string.IsNullOrEmpty(name)) return null;
        var uid = (uint)Marshal.ReadInt32(pwd, 2 * p);
        var gid = (uint)Marshal.ReadInt32(pwd, 2 * p + 4);
        var home = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 3 * p + 8)) ?? "";
        var shell = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 4 * p + 8)) ?? "";
        return new UnixAccount(name, uid, gid, home, shell);
    }

    /// <summary>The first account of a passwd(5) file whose fields match; null when none, or the file cannot be read.</summary>
    private static UnixAccount? FromFile(string path, Func<string[], bool> match)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.Length == 0 || line[0] == '#') continue;
                // name:passwd:uid:gid:gecos:dir:shell
                var f = line.Split(':');
                if (f.Length < 7 || f[0].Length == 0 || !match(f)) continue;
                if (!uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                    || !uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid)) continue;
                return new UnixAccount(f[0], uid, gid, f[5], f[6]);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern int getpwnam_r([MarshalAs(UnmanagedType.LPUTF8Str)] string name, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);

    [DllImport("libc")]
    private static extern int getpwuid_r(uint uid, IntPtr pwd, IntPtr buffer, nuint bufferLength, out IntPtr result);
}
