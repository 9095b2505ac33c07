// The users file for SMTP AUTH: one "user:hash[:addresses]" line each, re-read when it changes, rewritten atomically.
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;

namespace Mta.Engine.Auth;

/// <summary>One account of the users file. It carries no password hash, so it is safe to list and log.</summary>
/// <param name="Name">The AUTH user name.</param>
/// <param name="Addresses">The envelope senders the user may use, as written in the file (empty: the defaults).</param>
public sealed record UserEntry(string Name, IReadOnlyList<string> Addresses);

/// <summary>The answer of <see cref="UserStore.CheckAsync"/>.</summary>
public enum PasswordCheck
{
    /// <summary>The user exists and the password matches.</summary>
    Match,
    /// <summary>Unknown user or wrong password (the two cost the same and are not told apart).</summary>
    Mismatch,
    /// <summary>Not checked: the hashing pool is full (answer 454 4.7.0, a temporary failure).</summary>
    Busy,
}

/// <summary>
/// The operator-managed users file (<c>Auth:UsersFile</c>, default <c>DATA/users.db</c>). Line format:
/// <c>user:$pbkdf2-sha256$ITERATIONS$SALT$HASH[:addr1,addr2]</c>; blank lines and lines starting with <c>#</c> are
/// kept as they are. A missing file means no users. The file is read at construction and again whenever its
/// modification time or size changes, so <c>mta user add</c> takes effect without a restart. Written by a non-root
/// user the file is 0600; written by root it belongs to the owner and group of the data directory, mode 0640.
/// </summary>
public sealed partial class UserStore : IReloadable
{
    // A valid hash nobody's password matches, verified for unknown users so that a wrong user name costs as
    // much time as a wrong password and the timing does not tell which accounts exist.
    private readonly PasswordHash _dummy;
    private readonly int _iterations;
    private volatile IReadOnlyList<string> _localDomains;
    private volatile string _filePath;
    private volatile string _dataDirectory;
    private readonly ILogger _logger;
    private readonly PasswordHashPool _pool;
    private readonly Lock _reloadLock = new();
    private volatile Snapshot _snapshot = Snapshot.Empty;
    private long _dummyVerifications;

    /// <summary>Creates the store and reads the file once.</summary>
    /// <param name="options">The configuration.</param>
    /// <param name="logger">The log; none when null.</param>
    /// <param name="pool">Where password checks run; when null, a pool of its own sized by <c>Auth:HashWorkers</c> and
    /// <c>Auth:HashQueueLimit</c> (its threads start with the first check).</param>
    public UserStore(MtaOptions options, ILogger<UserStore>? logger = null, PasswordHashPool? pool = null)
    {
        _pool = pool ?? new PasswordHashPool(options.Auth.EffectiveHashWorkers, options.Auth.HashQueueLimit);
        _filePath = ResolvePath(options);
        _dataDirectory = new MtaPaths(options).DataDirectory;
        _iterations = options.Auth.HashIterations;
        _localDomains = LocalDomainsOf(options);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _dummy = PasswordHash.Unmatchable(_iterations);
        Refresh();
    }

    /// <summary>The users file's full path: <c>Auth:UsersFile</c> resolved against the data directory.</summary>
    public string FilePath => _filePath;

    /// <inheritdoc />
    public string Name => "users file";

    private static IReadOnlyList<string> LocalDomainsOf(MtaOptions options) =>
        options.LocalDomains.Count > 0 ? [.. options.LocalDomains] : ["localhost"];

    /// <summary>Takes a changed <c>Auth:UsersFile</c> or <c>LocalDomains</c> and reads the file again now (it is also
    /// re-read whenever it changes). An unreadable file is a <see cref="StartupException"/>; the accounts in service stay.</summary>
    public void Reload(MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var path = ResolvePath(options);
        var snapshot = ReadFile(path);
        lock (_reloadLock)
        {
            _filePath = path;
            _dataDirectory = new MtaPaths(options).DataDirectory;
            _localDomains = LocalDomainsOf(options);
            _snapshot = snapshot;
        }
        LogLoaded(_logger, path, snapshot.Ordered.Count);
    }

    /// <summary>Throws <see cref="StartupException"/> when the users file of <paramref name="options"/> exists but cannot
    /// be read (as <c>mta check</c> and a reload test it; a missing file is no users).</summary>
    public static void CheckReadable(MtaOptions options)
    {
        var path = ResolvePath(options);
        if (Directory.Exists(path)) throw new StartupException($"Auth:UsersFile: '{path}' is a folder, not a file");
        try
        {
            if (File.Exists(path)) using (File.OpenRead(path)) { }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"Auth:UsersFile: cannot read '{path}': {ex.Message}", ex);
        }
    }

    // Reads and parses a users file completely before anything is swapped in.
    private Snapshot ReadFile(string path)
    {
        if (Directory.Exists(path)) throw new StartupException($"Auth:UsersFile: '{path}' is a folder, not a file");
        var stamp = StampOf(path);
        try
        {
            return Parse(stamp.Exists ? File.ReadAllLines(path) : [], stamp, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"Auth:UsersFile: cannot read '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>Times an unknown user name or a malformed line was verified against the dummy hash (for tests).</summary>
    internal long DummyVerifications => Interlocked.Read(ref _dummyVerifications);

    /// <summary>The users file path for a configuration, without reading it.</summary>
    public static string ResolvePath(MtaOptions options) =>
        new MtaPaths(options).ResolveInData(options.Auth.UsersFile);

    /// <summary>Password hashes computed for checks, real or dummy (the figure the AUTH flood test and bench read).</summary>
    public long Evaluations => _pool.Evaluations;

    /// <summary>
    /// Checks a user name and password. The PBKDF2 work runs on the <see cref="PasswordHashPool"/>'s own threads, never
    /// on the thread pool; when that pool is full the answer is <see cref="PasswordCheck.Busy"/> at once. An unknown user
    /// (or one whose line is malformed) runs the same work against a dummy hash and fails. Never logs the password.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled while the check waited for a worker.</exception>
    public async ValueTask<PasswordCheck> CheckAsync(string user, string password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        var account = Find(user);
        var admission = _pool.TryRun(() =>
        {
            if (account?.Hash is { } hash) return hash.Verify(password);
            Interlocked.Increment(ref _dummyVerifications);
            _dummy.Verify(password);
            return false;
        }, cancellationToken, out var check);
        if (admission == PasswordHashAdmission.Full) return PasswordCheck.Busy;
        return await check!.ConfigureAwait(false) ? PasswordCheck.Match : PasswordCheck.Mismatch;
    }

    /// <summary>True when <see cref="CheckAsync"/> finds a match; false for a mismatch and also when the pool is full
    /// (for tools and tests; a server session uses <see cref="CheckAsync"/> and answers 454 when busy).</summary>
    public async ValueTask<bool> VerifyAsync(string user, string password, CancellationToken cancellationToken) =>
        await CheckAsync(user, password, cancellationToken).ConfigureAwait(false) == PasswordCheck.Match;

    /// <summary>True when the file has an entry for <paramref name="user"/> (matched case-insensitively).</summary>
    public bool Exists(string user) => Find(user) is not null;

    /// <summary>
    /// The envelope senders <paramref name="user"/> may use on submission: the addresses of its line, else
    /// <c>user@DOMAIN</c> for each local domain (or the user name itself when it is already an address). Empty for an
    /// unknown user.
    /// </summary>
    public IReadOnlyList<string> AllowedSenders(string user)
    {
        var account = Find(user);
        if (account is null) return [];
        if (account.Entry.Addresses.Count > 0) return account.Entry.Addresses;
        if (account.Entry.Name.Contains('@')) return [account.Entry.Name];
        return [.. _localDomains.Select(d => $"{account.Entry.Name}@{d}")];
    }

    /// <summary>Every account in file order: names and addresses, never hashes.</summary>
    public IReadOnlyList<UserEntry> List()
    {
        Refresh();
        return [.. _snapshot.Ordered.Select(a => a.Entry)];
    }

    /// <summary>Adds an account with a new PBKDF2 hash of <paramref name="password"/> and rewrites the file atomically.</summary>
    /// <returns>False when the user already exists (the file is left unchanged).</returns>
    /// <exception cref="ArgumentException">The user name or an address cannot be stored in the file.</exception>
    public bool Add(string user, string password, IReadOnlyList<string> addresses)
    {
        ValidateName(user);
        ArgumentException.ThrowIfNullOrEmpty(password);
        foreach (var address in addresses) ValidateAddress(address);
        var line = $"{user}:{PasswordHash.Create(password, _iterations)}" + (addresses.Count > 0 ? ":" + string.Join(',', addresses) : "");
        return Rewrite(lines =>
        {
            if (lines.Any(l => NameOf(l) is { } n && n.Equals(user, StringComparison.OrdinalIgnoreCase))) return false;
            lines.Add(line);
            return true;
        });
    }

    /// <summary>Removes an account and rewrites the file atomically.</summary>
    /// <returns>False when there is no such user.</returns>
    public bool Remove(string user) =>
        Rewrite(lines => lines.RemoveAll(l => NameOf(l) is { } n && n.Equals(user, StringComparison.OrdinalIgnoreCase)) > 0);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="user"/> can be a user name: 1 to 255
    /// characters, none of them ':' ',' '#' at the start, white space or control characters.</summary>
    public static void ValidateName(string user)
    {
        if (string.IsNullOrEmpty(user) || user.Length > 255 || user[0] == '#' ||
            user.Any(c => c is ':' or ',' || char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new ArgumentException($"'{user}' is not a valid user name (1 to 255 characters; no ':', ',', white space or control characters; not starting with '#')");
    }

    private static void ValidateAddress(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1 || address.Length > 254 ||
            address.Any(c => c is ':' or ',' or '<' or '>' || char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new ArgumentException($"'{address}' is not a valid address (local@domain)");
    }

    private Account? Find(string user)
    {
        Refresh();
        return _snapshot.ByName.GetValueOrDefault(user);
    }

    // One stat per call: AUTH is rare and costs far more in PBKDF2, so polling beats a FileSystemWatcher here.
    private void Refresh()
    {
        var stamp = Stamp();
        if (stamp == _snapshot.Stamp) return;
        lock (_reloadLock)
        {
            stamp = Stamp();
            if (stamp == _snapshot.Stamp) return;
            try
            {
                var lines = stamp.Exists ? File.ReadAllLines(FilePath) : [];
                _snapshot = Parse(lines, stamp, FilePath);
                LogLoaded(_logger, FilePath, _snapshot.Ordered.Count);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Keep the last good snapshot; the next call tries again.
                LogUnreadable(_logger, FilePath, ex.Message);
            }
        }
    }

    private FileStamp Stamp() => StampOf(FilePath);

    private static FileStamp StampOf(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? new FileStamp(true, info.LastWriteTimeUtc, info.Length) : default;
    }

    private Snapshot Parse(string[] lines, FileStamp stamp, string path)
    {
        var byName = new Dictionary<string, Account>(StringComparer.OrdinalIgnoreCase);
        var ordered = new List<Account>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0 || line[0] == '#' || string.IsNullOrWhiteSpace(line)) continue;
            var parts = line.Split(':');
            var name = parts[0];
            PasswordHash? hash = null;
            string[] addresses = [];
            var ok = parts.Length is 2 or 3 && name.Length > 0 && PasswordHash.TryParse(parts[1], out hash);
            if (ok && parts.Length == 3)
                addresses = parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!ok)
            {
                // Line number only: the line holds a hash, and a typo could put a password there.
                LogMalformed(_logger, path, i + 1);
                hash = null;
            }
            if (name.Length == 0) continue;
            // A malformed line still names its account, so that the account is refused rather than re-added.
            var account = new Account(new UserEntry(name, addresses), hash);
            if (byName.TryAdd(name, account)) ordered.Add(account);
            else LogDuplicate(_logger, path, i + 1);
        }
        return new Snapshot(stamp, byName, ordered);
    }

    private static string? NameOf(string line) =>
        line.Length == 0 || line[0] == '#' || string.IsNullOrWhiteSpace(line) ? null : line.Split(':')[0];

    // Read-modify-write under an advisory lock so two `mta user` commands cannot lose each other's change;
    // the new file is written beside the old, fsync'd, then renamed over it, so a reader sees old or new, never half.
    private bool Rewrite(Func<List<string>, bool> change)
    {
        var directory = Path.GetDirectoryName(FilePath)!;
        Directory.CreateDirectory(directory);
        var lockOptions = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) lockOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var lockFile = new FileStream(FilePath + ".lock", lockOptions);
        // The lock file too, so that the service user can still run `mta user` after root did.
        if (FileOwner.IsRoot && (FileOwner.Of(_dataDirectory) ?? FileOwner.Of(directory)) is { } owner)
            FileOwner.Change(FilePath + ".lock", owner.Uid, owner.Gid);
        var lockHandle = lockFile.SafeFileHandle;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!DurableIo.TryLockExclusive(lockHandle))
        {
            if (DateTime.UtcNow > deadline) throw new IOException($"{FilePath} is locked by another process");
            Thread.Sleep(50);
        }
        var lines = File.Exists(FilePath) ? File.ReadAllLines(FilePath).ToList() : [];
        if (!change(lines)) return false;
        var temp = $"{FilePath}.{Guid.NewGuid():N}.tmp";
        try
        {
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var stream = new FileStream(temp, create))
            {
                var bytes = new UTF8Encoding(false).GetBytes(string.Concat(lines.Select(l => l + "\n")));
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            if (FileOwner.IsRoot) HandToServiceUser(temp);
            File.Move(temp, FilePath, overwrite: true);
            DurableIo.FlushDirectory(directory);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        Refresh();
        return true;
    }

    // Root (`sudo mta user add`) writes a file the server, running as its own user, must still read: it goes to the
    // owner and group of the data directory (the service user's), mode 0640, never readable by others.
    private void HandToServiceUser(string file)
    {
        var owner = FileOwner.Of(_dataDirectory) ?? FileOwner.Of(Path.GetDirectoryName(file)!);
        if (owner is { } o) FileOwner.Change(file, o.Uid, o.Gid);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
    }

    private readonly record struct FileStamp(bool Exists, DateTime Modified, long Length);

    private sealed record Account(UserEntry Entry, PasswordHash? Hash);

    private sealed record Snapshot(FileStamp Stamp, Dictionary<string, Account> ByName, List<Account> Ordered)
    {
        // A stamp no real stat returns, so the first Refresh always reads.
        public static readonly Snapshot Empty = new(new FileStamp(false, DateTime.MinValue, -1), new(StringComparer.OrdinalIgnoreCase), []);
    }

    [LoggerMessage(EventId = LogEvents.Auth.UsersLoaded, Level = LogLevel.Information, Message = "Users file {Path} loaded: {Count} account(s)")]
    private static partial void LogLoaded(ILogger logger, string path, int count);

    [LoggerMessage(EventId = LogEvents.Auth.UsersLineMalformed, Level = LogLevel.Warning, Message = "Users file {Path} line {Line} is malformed; that account cannot authenticate")]
    private static partial void LogMalformed(ILogger logger, string path, int line);

    [LoggerMessage(EventId = LogEvents.Auth.UsersLineRepeated, Level = LogLevel.Warning, Message = "Users file {Path} line {Line} repeats an earlier user; ignored")]
    private static partial void LogDuplicate(ILogger logger, string path, int line);

    [LoggerMessage(EventId = LogEvents.Auth.UsersUnreadable, Level = LogLevel.Error, Message = "Users file {Path} cannot be read ({Reason}); keeping the accounts loaded before")]
    private static partial void LogUnreadable(ILogger logger, string path, string reason);
}
