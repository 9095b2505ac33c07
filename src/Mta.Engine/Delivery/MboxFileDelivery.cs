// Delivery to a file: an mbox entry appended under the locks mail readers use (PATH.lock and fcntl), fsync'd, as the account.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Engine.Delivery;

/// <summary>
/// Appends one recipient's copy to an mbox file, as Postfix's local(8) does for a <c>/path</c> alias target: a
/// <c>From sender date</c> line, <c>Return-Path:</c> and <c>Delivered-To:</c>, the message with LF line endings and
/// mboxrd <c>&gt;From </c> quoting, a blank line. Locks as Debian's mail readers expect: a <c>PATH.lock</c> dot-lock
/// when the folder lets the account create one (else fcntl alone), then an fcntl write lock on the whole file (an
/// open-file-description lock, so two deliveries inside this process exclude each other too). The data is fsync'd
/// before the locks go; a write that fails is cut back to the old size and deferred, never bounced.
/// <para>
/// As root, every path operation (opening or creating the file, the dot-lock) runs with the account's file-system
/// identity (<see cref="UnixAccounts.AsAccount{T}"/>): the file is created owned by the account, and a symbolic link or
/// a folder the account may not write stops the delivery as it would stop the account itself. Writes then go through
/// the open descriptor. Root itself is never used: a null or uid-0 account means <c>nobody</c>, as Postfix's
/// <c>default_privs</c>. Not root, the server's own user writes.
/// </para>
/// </summary>
public sealed partial class MboxFileDelivery : IFileDelivery
{
    private const int LockAttempts = 20;                              // Postfix's deliver_lock_attempts
    private static readonly TimeSpan LockDelay = TimeSpan.FromSeconds(1); // deliver_lock_delay
    private static readonly TimeSpan StaleLock = TimeSpan.FromSeconds(500); // stale_lock_time

    private readonly UnixAccounts _accounts;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    // Dot-locks are per path, and fcntl locks of one process may not exclude each other where OFD locks are missing.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _inProcess = new(StringComparer.Ordinal);

    public MboxFileDelivery(UnixAccounts accounts, TimeProvider time, ILogger<MboxFileDelivery> logger)
    {
        _accounts = accounts;
        _time = time;
        _logger = logger;
    }

    /// <inheritdoc />
    public async ValueTask<DeliveryOutcome> AppendAsync(string path, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(recipient);
        if (OperatingSystem.IsWindows()) return Defer(message, recipient, path, null, "4.3.5 file delivery needs a Unix host");
        if (!Path.IsPathFullyQualified(path)) return Defer(message, recipient, path, null, $"4.3.5 '{path}' is not an absolute path");
        var account = _accounts.RunsAsRoot
            ? runAs is { Uid: not 0, Gid: not 0 } ? runAs : _accounts.ByName("nobody") is { Uid: not 0 } nobody ? nobody : null
            : runAs;
        if (_accounts.RunsAsRoot && account is null)
            return Defer(message, recipient, path, null, "4.3.5 no unprivileged account to write the file as (nobody is missing)");

        var gate = _inProcess.GetOrAdd(path, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var dotLock = path + ".lock";
        var haveDotLock = false;
        try
        {
            haveDotLock = await TakeDotLockAsync(dotLock, account, cancellationToken).ConfigureAwait(false);
            var fd = _accounts.AsAccount(account, () => open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0x180 /* 0600 */));
            if (fd < 0) throw Errno($"cannot open {path}");
            // Closing the handle (however this ends) releases the fcntl lock with it.
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
            // Unseekable means a FIFO, socket or device: no mailbox, and writing there could block for good.
            if (!handle.IsInvalid && !CanSeek(fd)) throw new IOException($"{path} is not a regular file");
            await TakeFcntlLockAsync(fd, path, cancellationToken).ConfigureAwait(false);
            var start = lseek(fd, 0, SEEK_END);
            if (start < 0) throw Errno($"cannot seek in {path}");
            try
            {
                var fromLine = MboxFileFormat.FromLine(message.ReversePath, _time.GetLocalNow());
                await MboxFileFormat.WriteAsync(message, recipient.Address, fromLine, (chunk, _) =>
                {
                    WriteAll(fd, chunk.Span, path);
                    return ValueTask.CompletedTask;
                }, cancellationToken).ConfigureAwait(false);
                if (fsync(fd) != 0) throw Errno($"cannot fsync {path}");
            }
            catch
            {
                // A half-written entry would run into the next one: cut the file back to where this one began.
                _ = ftruncate(fd, start);
                throw;
            }
            LogAppended(_logger, message.QueueId, recipient.Address.ToString(), path, account?.Name ?? "-");
            return DeliveryOutcome.Delivered($"delivered to file: {path}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or TimeoutException)
        {
            return Defer(message, recipient, path, account, "4.3.0 " + ex.Message);
        }
        finally
        {
            if (haveDotLock) _accounts.AsAccount(account, () => unlink(dotLock));
            gate.Release();
        }
    }

    private DeliveryOutcome Defer(IQueuedMessage message, EnvelopeRecipient recipient, string path, UnixAccount? account, string text)
    {
        LogFailed(_logger, message.QueueId, recipient.Address.ToString(), path, account?.Name ?? "-", text);
        var code = text[..5];
        return new DeliveryOutcome(DeliveryStatus.Deferred, code, text);
    }

    /// <summary>Creates <c>PATH.lock</c> exclusively as the account. False when the folder does not let the account
    /// create files (then the fcntl lock alone protects the file, as with Postfix on a folder it cannot write); a lock
    /// older than 500 s is stale and removed; a live one is waited for, up to 20 tries a second apart.</summary>
    private async ValueTask<bool> TakeDotLockAsync(string lockPath, UnixAccount? account, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (fd, errno) = _accounts.AsAccount(account, () =>
            {
                var f = open(lockPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
                return (f, f < 0 ? Marshal.GetLastPInvokeError() : 0);
            });
            if (fd >= 0)
            {
                _ = close(fd);
                return true;
            }
            if (errno != EEXIST) return false;
            try
            {
                if (_time.GetUtcNow() - File.GetLastWriteTimeUtc(lockPath) > StaleLock)
                {
                    _accounts.AsAccount(account, () => unlink(lockPath));
                    continue;
                }
            }
            catch (IOException) { }
            if (attempt >= LockAttempts) throw new TimeoutException($"{lockPath} is held by another program");
            await Task.Delay(LockDelay, _time, ct).ConfigureAwait(false);
        }
    }

    private async ValueTask TakeFcntlLockAsync(int fd, string path, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var whole = new Flock { Type = F_WRLCK, Whence = SEEK_SET };
            // An open-file-description lock (Linux 3.15+) also excludes this process's other deliveries; classic POSIX
            // record locks where it is missing. Both conflict with the fcntl locks mail readers take.
            var rc = fcntl(fd, F_OFD_SETLK, ref whole);
            if (rc != 0 && Marshal.GetLastPInvokeError() == EINVAL) rc = fcntl(fd, F_SETLK, ref whole);
            if (rc == 0) return;
            var errno = Marshal.GetLastPInvokeError();
            if (errno is not (EAGAIN or EACCES)) throw new IOException($"cannot lock {path}: errno {errno}");
            if (attempt >= LockAttempts) throw new TimeoutException($"{path} is locked by another program");
            await Task.Delay(LockDelay, _time, ct).ConfigureAwait(false);
        }
    }

    private static void WriteAll(int fd, ReadOnlySpan<byte> data, string path)
    {
        while (!data.IsEmpty)
        {
            var n = write(fd, ref MemoryMarshal.GetReference(data), (nuint)data.Length);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                throw Errno($"cannot write {path}");
            }
            data = data[(int)n..];
        }
    }

    private static bool CanSeek(int fd) => lseek(fd, 0, SEEK_CUR) >= 0;

    private static IOException Errno(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    // Linux values (the same on x86-64 and arm64).
    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_APPEND = 0x400, O_NONBLOCK = 0x800;
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
    private const int O_CLOEXEC = 0x80000;
    private const int F_SETLK = 6, F_OFD_SETLK = 37;
    private const short F_WRLCK = 1;
    private const short SEEK_SET = 0;
    private const int SEEK_CUR = 1, SEEK_END = 2;
    private const int EINTR = 4, EAGAIN = 11, EACCES = 13, EEXIST = 17, EINVAL = 22;

    /// <summary>struct flock of 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (32 bytes with padding).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length; // 0: to the end of the file, however it grows
        public int Pid;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int unlink([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, ref byte buffer, nuint count);

    [DllImport("libc", SetLastError = true)]
    private static extern long lseek(int fd, long offset, int whence);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int ftruncate(int fd, long length);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, ref Flock lockArgs);

    [LoggerMessage(EventId = LogEvents.LocalTargets.FileAppended, Level = LogLevel.Information,
        Message = "{QueueId}: <{Recipient}> appended to file {Path} as {Account}")]
    private static partial void LogAppended(ILogger logger, string queueId, string recipient, string path, string account);

    [LoggerMessage(EventId = LogEvents.LocalTargets.FileFailed, Level = LogLevel.Warning,
        Message = "{QueueId}: <{Recipient}> append to file {Path} as {Account} failed; will retry: {Detail}")]
    private static partial void LogFailed(ILogger logger, string queueId, string recipient, string path, string account, string detail);
}
