// Local delivery into one Maildir per user: write to tmp/, fsync, rename into new/, fsync new/.
using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers a message into <c>MaildirRoot/USER/new</c> following the Maildir spec: unique name in tmp/, data fsync'd,
/// rename into new/ with <c>,S=size</c>, and the new/ directory fsync'd so the rename survives a crash. The
/// delivered copy starts with <c>Return-Path:</c> and <c>Delivered-To:</c> fields (as Postfix's local(8) writes them);
/// the rest of the file is the stored message byte for byte. Runs on delivery workers, never on a session.
/// <para>
/// With <see cref="MailboxOptions.HomeMaildir"/> set the Maildir is <c>HOME/HomeMaildir</c> of the system account named
/// by the user instead (an unknown account throws <see cref="MailboxUserUnknownException"/>; a home that is missing or not
/// absolute, an <see cref="IOException"/>). When the server runs as root, every folder and file there is created, and
/// the rename into new/ done, with the account's file-system identity (<see cref="UnixAccounts.AsAccount{T}"/>), so they
/// belong to the account (folders 0700, files 0600) and a symbolic link planted in the home leads nowhere the account
/// could not write itself.
/// </para>
/// </summary>
public sealed class MaildirDelivery
{
    private static readonly UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly int ProcessId = Environment.ProcessId;
    private static long _counter;

    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly string _hostPart;
    private readonly ConcurrentDictionary<string, string> _ready = new(StringComparer.Ordinal);
    private readonly SharedDirectorySync _directorySync = new();
    private readonly string? _homeMaildir;
    private readonly UnixAccounts _accounts;

    public MaildirDelivery(MtaPaths paths, TimeProvider time) : this(paths, time, null, null) { }

    /// <param name="paths">The shared Maildir root.</param>
    /// <param name="time">The clock of the unique names.</param>
    /// <param name="options">The options (<see cref="MailboxOptions.HomeMaildir"/>); null for the shared root.</param>
    /// <param name="accounts">The passwd database for home Maildirs; null for the system's.</param>
    public MaildirDelivery(MtaPaths paths, TimeProvider time, MtaOptions? options, UnixAccounts? accounts)
    {
        _root = paths.MaildirRoot;
        _time = time;
        _hostPart = EscapeHostName(Environment.MachineName);
        _homeMaildir = options?.Mailboxes.HomeMaildir is { Length: > 0 } home ? home.Trim().TrimEnd('/') : null;
        _accounts = accounts ?? UnixAccounts.System;
    }

    /// <summary>True when mailboxes are Maildirs in the users' homes (<see cref="MailboxOptions.HomeMaildir"/>).</summary>
    public bool InHomes => _homeMaildir is not null;

    /// <summary>True when <paramref name="user"/> can name a Maildir folder (<see cref="MailboxNames.IsValid"/>, the rule
    /// RCPT applies too, so a name refused here was normally refused before it was accepted).</summary>
    public static bool IsValidUser(string user) => MailboxNames.IsValid(user);

    /// <summary>True when <paramref name="mailbox"/> is a user (<see cref="IsValidUser"/>) or a virtual mailbox
    /// <c>DOMAIN/USER</c>, both parts valid names, so the path stays under the Maildir root.</summary>
    public static bool IsValidMailbox(string mailbox)
    {
        var slash = mailbox.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? IsValidUser(mailbox) : IsValidUser(mailbox[..slash]) && IsValidUser(mailbox[(slash + 1)..]);
    }

    /// <summary>True when the Maildir++ folder <paramref name="folder"/> (<c>.name</c>) exists in the mailbox's Maildir.</summary>
    public bool FolderExists(string mailbox, string folder) =>
        IsValidMailbox(mailbox) && folder.Length > 1 && folder[0] == '.' && IsValidUser(folder[1..])
        && System.IO.Directory.Exists(Path.Combine(_root, mailbox, folder));

    /// <summary>The Maildir folder of a user.</summary>
    public string MaildirOf(string user) => Path.Combine(_root, user);

    /// <summary>Writes one copy and returns the path of the file in new/ once it is durable.</summary>
    /// <param name="user">The mailbox user (a single path segment), or a virtual mailbox <c>DOMAIN/USER</c>.</param>
    /// <param name="recipient">The envelope recipient, for <c>Delivered-To:</c>.</param>
    /// <param name="reversePath">The reverse-path, for <c>Return-Path:</c>.</param>
    /// <param name="message">The stored message.</param>
    /// <param name="cancellationToken">Abandons the copy (the tmp/ file is removed).</param>
    /// <param name="folder">A Maildir++ sub-folder such as <c>.Junk</c>, or null for the inbox.</param>
    public async ValueTask<string> DeliverAsync(string user, SmtpAddress recipient, SmtpAddress reversePath, IMessageContent message,
        CancellationToken cancellationToken, string? folder = null)
    {
        if (!IsValidMailbox(user)) throw new ArgumentException($"'{user}' is not a usable mailbox name", nameof(user));
        if (folder is not null && (!folder.StartsWith('.') || !IsValidUser(folder[1..])))
            throw new ArgumentException($"'{folder}' is not a Maildir++ folder name", nameof(folder));
        var account = HomeAccount(user);
        var maildir = _accounts.AsAccount(account, () => EnsureMaildir(user, account));
        if (folder is not null) maildir = _accounts.AsAccount(account, () => EnsureFolder(user, maildir, folder));
        var name = UniqueName();
        var tmpPath = Path.Combine(maildir, "tmp", name);

        var prefix = Encoding.UTF8.GetBytes($"Return-Path: {reversePath.ToPathString()}\r\nDelivered-To: {recipient}\r\n");
        long size;
        try
        {
            // Plain synchronous writes on the delivery worker: on Unix, "async" file I/O is the same work plus a
            // thread hop, and fsync has no async form anyway.
            // The Maildir folders are 0700, so the file's own mode (umask) does not widen access.
            using var file = account is null
                ? File.OpenHandle(tmpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None)
                : _accounts.AsAccount(account, () => CreatePrivateFile(tmpPath));
            RandomAccess.Write(file, prefix, 0);
            size = prefix.Length;
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                await using var content = message.OpenRead();
                int read;
                while ((read = content.Read(buffer, 0, buffer.Length)) > 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    RandomAccess.Write(file, buffer.AsSpan(0, read), size);
                    size += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            DurableIo.FlushData(file);
        }
        catch
        {
            _accounts.AsAccount(account, () => TryDelete(tmpPath));
            throw;
        }

        var newDirectory = Path.Combine(maildir, "new");
        var newPath = Path.Combine(newDirectory, name + ",S=" + size.ToString(CultureInfo.InvariantCulture));
        try
        {
            _accounts.AsAccount(account, () =>
            {
                DurableIo.RenameNoReplace(tmpPath, newPath);
                return true;
            });
        }
        catch
        {
            _accounts.AsAccount(account, () => TryDelete(tmpPath));
            throw;
        }
        // The rename is durable only once new/ is synced; concurrent deliveries to one user share that fsync.
        await _directorySync.SyncAsync(newDirectory).ConfigureAwait(false);
        return newPath;
    }

    /// <summary>The account whose home holds <paramref name="user"/>'s Maildir; null for the shared root.</summary>
    private UnixAccount? HomeAccount(string user)
    {
        if (_homeMaildir is null) return null;
        var account = _accounts.ByName(user) ?? throw new MailboxUserUnknownException(user);
        if (account.Home.Length == 0 || !Path.IsPathFullyQualified(account.Home) || account.Home == "/")
            throw new IOException($"{user} has no usable home folder ('{account.Home}') for its Maildir");
        if (!_accounts.AsAccount(account, () => System.IO.Directory.Exists(account.Home)))
            throw new IOException($"the home folder {account.Home} of {user} does not exist or {user} cannot enter it");
        return account;
    }

    private string EnsureMaildir(string user, UnixAccount? account)
    {
        if (_ready.TryGetValue(user, out var existing)) return existing;
        if (account is not null) return EnsureHomeMaildir(user, account);
        var maildir = Path.Combine(_root, user);
        var rootExisted = System.IO.Directory.Exists(_root);
        var userExisted = System.IO.Directory.Exists(maildir);
        CreatePrivateDirectory(_root);
        CreatePrivateDirectory(maildir);
        foreach (var sub in (ReadOnlySpan<string>)["tmp", "new", "cur"]) CreatePrivateDirectory(Path.Combine(maildir, sub));
        // New folders must be durable themselves, or a crash could lose new/ together with the mail renamed into it.
        if (!userExisted)
        {
            DurableIo.FlushDirectory(maildir);
            // A virtual mailbox (DOMAIN/USER) has its domain's folder between it and the root.
            if (Path.GetDirectoryName(maildir) is { } domainFolder && domainFolder != _root) DurableIo.FlushDirectory(domainFolder);
            DurableIo.FlushDirectory(_root);
            if (!rootExisted && Path.GetDirectoryName(_root) is { } parent) DurableIo.FlushDirectory(parent);
        }
        _ready[user] = maildir;
        return maildir;
    }

    /// <summary>HOME/HomeMaildir with tmp/, new/, cur/; the folders between the home and the Maildir are made too.</summary>
    private string EnsureHomeMaildir(string user, UnixAccount account)
    {
        var maildir = Path.Combine(account.Home, _homeMaildir!);
        var created = new List<string>();
        // Each missing folder from the home down, so each is made 0700 (CreateDirectory gives the mode to the last only).
        var relative = Path.GetRelativePath(account.Home, maildir);
        var path = account.Home;
        foreach (var part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path = Path.Combine(path, part);
            if (System.IO.Directory.Exists(path)) continue;
            CreatePrivateDirectory(path);
            created.Add(path);
        }
        foreach (var sub in (ReadOnlySpan<string>)["tmp", "new", "cur"]) CreatePrivateDirectory(Path.Combine(maildir, sub));
        if (created.Count > 0)
        {
            DurableIo.FlushDirectory(maildir);
            foreach (var folder in created) DurableIo.FlushDirectory(Path.GetDirectoryName(folder)!);
        }
        _ready[user] = maildir;
        return maildir;
    }

    /// <summary>A Maildir++ folder inside the user's Maildir: its own tmp/, new/ and cur/, and the empty
    /// <c>maildirfolder</c> file that tells IMAP servers (Dovecot, Courier) what it is.</summary>
    private string EnsureFolder(string user, string maildir, string folder)
    {
        var key = user + "/" + folder;
        if (_ready.TryGetValue(key, out var existing)) return existing;
        var path = Path.Combine(maildir, folder);
        var existed = System.IO.Directory.Exists(path);
        CreatePrivateDirectory(path);
        foreach (var sub in (ReadOnlySpan<string>)["tmp", "new", "cur"]) CreatePrivateDirectory(Path.Combine(path, sub));
        var marker = Path.Combine(path, "maildirfolder");
        if (!File.Exists(marker)) File.WriteAllBytes(marker, []);
        if (!existed)
        {
            DurableIo.FlushDirectory(path);
            DurableIo.FlushDirectory(maildir);
        }
        _ready[key] = path;
        return path;
    }

    /// <summary>A new file of mode 0600 (in a home Maildir, whose folders the user may have opened up).</summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle CreatePrivateFile(string path)
    {
        if (OperatingSystem.IsWindows()) return File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = PrivateFile,
        }).SafeFileHandle;
    }

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(path);
        else System.IO.Directory.CreateDirectory(path, PrivateDirectory);
    }

    /// <summary><c>SECONDS.MusecPpidQcounter.host</c>, per the Maildir spec (cr.yp.to/proto/maildir.html).</summary>
    private string UniqueName()
    {
        var now = _time.GetUtcNow();
        var ticks = now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = ticks / TimeSpan.TicksPerSecond;
        var micros = ticks % TimeSpan.TicksPerSecond / 10;
        var counter = Interlocked.Increment(ref _counter);
        return string.Create(CultureInfo.InvariantCulture, $"{seconds}.M{micros}P{ProcessId}Q{counter}.{_hostPart}");
    }

    /// <summary>Escapes <c>/</c> as <c>\057</c> and <c>:</c> as <c>\072</c>, as the Maildir spec asks.</summary>
    internal static string EscapeHostName(string host) => host.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);

    private static bool TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { /* a leftover tmp/ file is harmless; Maildir readers ignore tmp/ */ }
        catch (UnauthorizedAccessException) { }
        return true;
    }
}

/// <summary>A home Maildir was asked for a user the passwd database does not know: the recipient bounces (5.1.1).</summary>
public sealed class MailboxUserUnknownException(string user) : Exception($"no system account named {user}")
{
    /// <summary>The user name.</summary>
    public string User { get; } = user;
}
