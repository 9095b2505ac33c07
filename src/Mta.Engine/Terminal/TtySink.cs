// The write(1)-style sink: a terminal message written to the ttys the user is logged in on (utmp) that accept messages (mesg y).
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Terminal;

/// <summary>
/// Finds the user's login sessions in utmp (<c>Terminal:Tty:UtmpPath</c>), keeps the ttys that allow messages (group write
/// bit set, as <c>mesg y</c> leaves it) and writes the message to each the way write(1) does: a header, the sanitised text
/// with CRLF line ends, then <c>EOF</c>. A tty is opened non-blocking and without becoming the server's controlling
/// terminal, must be a terminal, and gets <c>Terminal:Tty:WriteTimeout</c> to take the message; a stuck one is skipped.
/// Linux only (the open(2) flags and utmp layout are Linux's); elsewhere no user is ever active here.
/// </summary>
public sealed partial class TtySink : ITerminalSink
{
    private const int O_WRONLY = 0x1, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private const int EINTR = 4, EAGAIN = 11;

    private readonly TtyTerminalOptions _options;
    private readonly string _hostName;
    private readonly int _maxTextBytes;
    private readonly string _devDirectory;
    private readonly TimeProvider _time;
    private readonly ILogger<TtySink> _logger;

    /// <summary>Creates the sink from <see cref="TerminalOptions.Tty"/>.</summary>
    public TtySink(MtaOptions options, TimeProvider time, ILogger<TtySink> logger)
    {
        _options = options.Terminal.Tty;
        _hostName = options.HostName;
        _maxTextBytes = options.Terminal.MaxTextBytes;
        _devDirectory = Path.GetFullPath(_options.DevDirectory);
        _time = time;
        _logger = logger;
    }

    /// <summary>The sink's name in logs: <c>tty</c>.</summary>
    public string Name => "tty";

    /// <inheritdoc />
    public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken) =>
        ValueTask.FromResult(WritableTtys(user).Count > 0);

    /// <inheritdoc />
    public async ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var ttys = WritableTtys(user);
        if (ttys.Count == 0) return false;
        var bytes = Encoding.UTF8.GetBytes(Format(message));
        var results = await Task.WhenAll(ttys.Select(tty => WriteAsync(tty, bytes, cancellationToken)));
        return results.Any(r => r);
    }

    /// <summary>The message as written to a tty: write(1)'s header, sender and subject lines, the text, <c>EOF</c>; CRLF line ends.</summary>
    internal string Format(TerminalMessage message)
    {
        var now = _time.GetLocalNow();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Message from mta@{TerminalText.Sanitize(_hostName, singleLine: true)} on smtp at {now:HH:mm} ...\n");
        var from = message.From.IsNull ? "<>" : message.From.ToString();
        text.Append("From: ").Append(TerminalText.Sanitize(from, singleLine: true)).Append('\n');
        if (message.Subject is { Length: > 0 } subject) text.Append("Subject: ").Append(TerminalText.Sanitize(subject, singleLine: true)).Append('\n');
        text.Append('\n');
        // Again here: whatever built the message, only sanitised text of bounded size reaches a terminal.
        text.Append(TerminalText.Limit(TerminalText.Sanitize(message.Text).TrimEnd('\n'), _maxTextBytes)).Append('\n');
        text.Append("EOF\n");
        // A bell, as write(1) rings; every line ends CRLF, as a tty in raw mode (an editor, a pager) needs.
        return "\r\n\a" + text.ToString().Replace("\n", "\r\n", StringComparison.Ordinal);
    }

    /// <summary>Full paths of <paramref name="user"/>'s ttys from utmp, whether or not they take messages.</summary>
    internal List<string> Ttys(string user)
    {
        var found = new List<string>();
        if (!_options.Enabled || !OperatingSystem.IsLinux() || string.IsNullOrEmpty(user)) return found;
        List<UtmpEntry> entries;
        try
        {
            entries = Utmp.Read(_options.UtmpPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogUtmpUnreadable(_options.UtmpPath, ex.Message);
            return found;
        }
        var checkPids = Directory.Exists("/proc/self");
        foreach (var entry in entries)
        {
            // Exactly the login name: "ALICE" is another account than the mailbox "alice", and must not read its messages.
            if (entry.Type != Utmp.UserProcess || !string.Equals(entry.User, user, StringComparison.Ordinal)) continue;
            // A record whose login process is gone is stale (a crashed session): its tty may be someone else's now.
            if (checkPids && entry.ProcessId > 0 && !Directory.Exists("/proc/" + entry.ProcessId.ToString(CultureInfo.InvariantCulture))) continue;
            if (DevicePath(entry.Line) is { } path && !found.Contains(path)) found.Add(path);
        }
        return found;
    }

    /// <summary>The ttys of <see cref="Ttys"/> that allow messages: group write bit set (<c>mesg y</c>).</summary>
    internal List<string> WritableTtys(string user) => Ttys(user).Where(AcceptsMessages).ToList();

    private static bool AcceptsMessages(string path)
    {
        if (OperatingSystem.IsWindows()) return false;
        try
        {
            return (File.GetUnixFileMode(path) & UnixFileMode.GroupWrite) != 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // ut_line is a name under /dev ("pts/3", "tty1"); anything that could leave the folder, or is not a plain name, is garbage.
    private string? DevicePath(string line)
    {
        if (line.Length is 0 or > 32 || line.StartsWith('/') || line.Contains("..", StringComparison.Ordinal)) return null;
        if (!line.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '_' or '-' or '.')) return null;
        var path = Path.GetFullPath(Path.Combine(_devDirectory, line));
        return path.StartsWith(_devDirectory.TrimEnd('/') + "/", StringComparison.Ordinal) ? path : null;
    }

    private async Task<bool> WriteAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        var fd = -1;
        try
        {
            // O_NOCTTY: a server without a controlling terminal would otherwise acquire the user's tty by opening it.
            // O_NOFOLLOW: a symlink planted at the device path is not followed. O_NONBLOCK: a stuck tty answers EAGAIN.
            fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | NoFollow);
            if (fd < 0)
            {
                LogWriteFailed(path, Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
                return false;
            }
            if (isatty(fd) != 1)
            {
                LogWriteFailed(path, "not a terminal");
                return false;
            }
            var deadline = _time.GetTimestamp() + (long)(_options.WriteTimeout.TotalSeconds * _time.TimestampFrequency);
            var written = 0;
            while (written < bytes.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = write(fd, ref bytes[written], bytes.Length - written);
                if (n > 0)
                {
                    written += (int)n;
                    continue;
                }
                var errno = n < 0 ? Marshal.GetLastPInvokeError() : EAGAIN;
                if (errno == EINTR) continue;
                if (errno != EAGAIN)
                {
                    LogWriteFailed(path, Marshal.GetPInvokeErrorMessage(errno));
                    return false;
                }
                // Full (flow control, a paused terminal): wait a little, never past the deadline.
                if (_time.GetTimestamp() >= deadline)
                {
                    LogWriteFailed(path, $"the terminal did not take the message within {_options.WriteTimeout.TotalMilliseconds:0} ms ({written} of {bytes.Length} bytes written)");
                    return false;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken);
            }
            return true;
        }
        finally
        {
            if (fd >= 0) close(fd);
        }
    }

    // O_NOFOLLOW differs by architecture: 0400000 on x86, 0100000 on ARM.
    private static int NoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, ref byte buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int isatty(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);

    [LoggerMessage(EventId = LogEvents.Terminal.UtmpUnreadable, Level = LogLevel.Warning, Message = "tty sink: cannot read utmp {Path}: {Reason}")]
    private partial void LogUtmpUnreadable(string path, string reason);

    [LoggerMessage(EventId = LogEvents.Terminal.TtyWriteFailed, Level = LogLevel.Information, Message = "tty sink: cannot write to {Tty}: {Reason}")]
    private partial void LogWriteFailed(string tty, string reason);
}
