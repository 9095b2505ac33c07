// A real pseudo-terminal for tests (posix_openpt, grantpt, unlockpt, ptsname_r): the slave is a tty, the master side reads what it shows.
using System.Runtime.InteropServices;
using System.Text;

namespace Mta.Engine.Tests.Terminal;

internal sealed class PseudoTerminal : IDisposable
{
    private const int O_RDWR = 0x2, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, EAGAIN = 11, EINTR = 4, EIO = 5;
    private readonly int _master;
    // Held open, as a logged-in shell holds its tty: the writes land in the line discipline either way.
    private readonly int _slave;

    private PseudoTerminal(int master, int slave, string slavePath)
    {
        _master = master;
        _slave = slave;
        SlavePath = slavePath;
    }

    /// <summary>The slave device, e.g. /dev/pts/3.</summary>
    public string SlavePath { get; }

    /// <summary>The utmp line of the slave: its path relative to /dev.</summary>
    public string Line => SlavePath.StartsWith("/dev/", StringComparison.Ordinal) ? SlavePath[5..] : SlavePath;

    /// <summary>Creates a pty, or returns null with the reason (no /dev/ptmx, no devpts, a sandbox).</summary>
    public static PseudoTerminal? TryCreate(out string reason)
    {
        reason = "";
        if (!OperatingSystem.IsLinux())
        {
            reason = "pseudo-terminals are tested on Linux";
            return null;
        }
        try
        {
            var master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
            if (master < 0) return Fail("posix_openpt", out reason);
            if (grantpt(master) != 0 || unlockpt(master) != 0)
            {
                close(master);
                return Fail("grantpt/unlockpt", out reason);
            }
            var name = new byte[256];
            if (ptsname_r(master, name, name.Length) != 0)
            {
                close(master);
                return Fail("ptsname_r", out reason);
            }
            var path = Encoding.UTF8.GetString(name, 0, Array.IndexOf(name, (byte)0));
            var slave = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
            if (slave < 0)
            {
                close(master);
                return Fail("open " + path, out reason);
            }
            return new PseudoTerminal(master, slave, path);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            reason = ex.Message;
            return null;
        }
    }

    private static PseudoTerminal? Fail(string what, out string reason)
    {
        reason = $"{what} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
        return null;
    }

    /// <summary>Reads what the terminal shows until <paramref name="until"/> holds or the time is up; returns all read.</summary>
    public async Task<string> ReadAsync(Func<string, bool> until, TimeSpan timeout)
    {
        var buffer = new byte[4096];
        var received = new List<byte>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var n = read(_master, buffer, buffer.Length);
            if (n > 0)
            {
                received.AddRange(buffer.AsSpan(0, (int)n));
                if (until(Encoding.UTF8.GetString([.. received]))) break;
                continue;
            }
            var errno = n < 0 ? Marshal.GetLastPInvokeError() : EAGAIN;
            if (errno == EINTR) continue;
            if (errno is not (EAGAIN or EIO)) throw new IOException($"read from the pty master failed: {Marshal.GetPInvokeErrorMessage(errno)}");
            await Task.Delay(10);
        }
        return Encoding.UTF8.GetString([.. received]);
    }

    public void Dispose()
    {
        close(_slave);
        close(_master);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_openpt(int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int grantpt(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int unlockpt(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int ptsname_r(int fd, byte[] buffer, nint length);

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, byte[] buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
