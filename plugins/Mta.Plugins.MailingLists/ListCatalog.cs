// The set of lists: fixed ones from Settings:Lists, plus one file per list under Settings:Directory, re-read on change.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Plugins.MailingLists;

/// <summary>
/// Looks lists up by address. Config lists are read once (the host restarts on a config change); list files are
/// the part operators edit while the server runs, so each lookup checks the file's modification time and length
/// (one stat) and re-reads it when either changed. The folder itself is re-listed when its own time changes
/// (a file was added, removed or renamed) or every <see cref="RescanInterval"/>, whichever comes first.
/// </summary>
public sealed class ListCatalog
{
    private readonly Dictionary<string, MailingList> _configured;
    private readonly string? _directory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Dictionary<string, ListFile> _files = new(StringComparer.OrdinalIgnoreCase);
    private DateTime _directoryStamp = DateTime.MinValue;
    private DateTimeOffset _lastScan = DateTimeOffset.MinValue;

    public ListCatalog(IEnumerable<MailingList> configured, string? directory, ILogger logger, TimeProvider? time = null)
    {
        _configured = new Dictionary<string, MailingList>(StringComparer.OrdinalIgnoreCase);
        foreach (var list in configured) _configured[Addresses.Key(list.Address)] = list;
        _directory = string.IsNullOrWhiteSpace(directory) ? null : Path.GetFullPath(directory);
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How often the list folder is re-listed even when its time did not change (coarse file systems).</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The absolute list folder, or null when only config lists are used.</summary>
    public string? Directory => _directory;

    /// <summary>Reads <c>Settings:Lists</c> and <c>Settings:Directory</c>.</summary>
    public static ListCatalog FromSettings(IConfiguration settings, ILogger logger, TimeProvider? time = null)
    {
        var lists = new List<MailingList>();
        foreach (var section in settings.GetSection("Lists").GetChildren())
        {
            if (!Addresses.TryParse(section.Key, null, out var address))
                throw new InvalidOperationException($"Settings:Lists:{section.Key}: the key must be a list address such as dev@example.org");
            var ownerText = section["Owner"];
            var owner = MailingList.DefaultOwner(address);
            if (!string.IsNullOrWhiteSpace(ownerText) && !Addresses.TryParse(ownerText, address.Domain, out owner))
                throw new InvalidOperationException($"Settings:Lists:{section.Key}:Owner: '{ownerText}' is not an address");
            var membersSection = section.GetSection("Members");
            // An array is the documented form; a single comma-separated string is accepted because environment
            // variables (MTA__Plugins__...) make arrays awkward.
            var lines = membersSection.Value is { } scalar
                ? scalar.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : membersSection.GetChildren().Select(c => c.Value ?? "");
            var members = new List<ListMember>();
            foreach (var line in lines)
            {
                if (!Addresses.TryParseMember(line, address.Domain, out var member))
                    throw new InvalidOperationException($"Settings:Lists:{section.Key}:Members: '{line}' is not an address");
                members.Add(member);
            }
            lists.Add(Build(address, owner, section["Description"], members));
        }
        return new ListCatalog(lists, settings["Directory"], logger, time) { RescanInterval = ReadInterval(settings) };
    }

    private static TimeSpan ReadInterval(IConfiguration settings)
    {
        var text = settings["RescanInterval"];
        if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromSeconds(2);
        return TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= TimeSpan.Zero
            ? value
            : throw new InvalidOperationException($"Settings:RescanInterval: '{text}' is not a time span such as 00:00:02");
    }

    /// <summary>Makes a list with members de-duplicated (case-insensitive, first occurrence wins).</summary>
    public static MailingList Build(SmtpAddress address, SmtpAddress owner, string? description, IEnumerable<ListMember> members)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unique = members.Where(m => seen.Add(Addresses.Key(m.Address))).ToList();
        return new MailingList(address, owner, string.IsNullOrWhiteSpace(description) ? null : description.Trim(), unique);
    }

    /// <summary>The list at <paramref name="address"/>, or null when it is not a list.</summary>
    public MailingList? Find(SmtpAddress address)
    {
        if (address.IsNull || address.Domain.Length == 0) return null;
        var key = Addresses.Key(address);
        _configured.TryGetValue(key, out var configured);
        if (_directory is null) return configured;
        ListFile? file;
        lock (_gate)
        {
            Rescan();
            if (!_files.TryGetValue(key, out file)) return configured;
            Refresh(file);
        }
        return Merge(configured, file.List);
    }

    /// <summary>Every list, for EXPN by local part.</summary>
    public IReadOnlyList<MailingList> All()
    {
        var result = new Dictionary<string, MailingList>(_configured, StringComparer.OrdinalIgnoreCase);
        if (_directory is null) return [.. result.Values];
        lock (_gate)
        {
            Rescan();
            foreach (var (key, file) in _files)
            {
                Refresh(file);
                result.TryGetValue(key, out var configured);
                if (Merge(configured, file.List) is { } merged) result[key] = merged;
            }
        }
        return [.. result.Values];
    }

    private static MailingList? Merge(MailingList? configured, MailingList? fromFile)
    {
        if (fromFile is null) return configured;
        if (configured is null) return fromFile;
        // Config supplies owner and description; the file adds members (handy for a long roster beside a short config).
        return Build(configured.Address, configured.Owner, configured.Description, configured.Members.Concat(fromFile.Members));
    }

    private void Rescan()
    {
        var now = _time.GetUtcNow();
        DateTime stamp;
        try
        {
            stamp = System.IO.Directory.Exists(_directory) ? System.IO.Directory.GetLastWriteTimeUtc(_directory!) : DateTime.MinValue;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogFolderError(ex);
            return;
        }
        if (stamp == _directoryStamp && now - _lastScan < RescanInterval) return;
        _directoryStamp = stamp;
        _lastScan = now;
        var next = new Dictionary<string, ListFile>(StringComparer.OrdinalIgnoreCase);
        if (stamp != DateTime.MinValue)
        {
            try
            {
                foreach (var path in System.IO.Directory.EnumerateFiles(_directory!))
                {
                    var name = Path.GetFileName(path);
                    // Skip dot files and editors' temporary files so a half-saved list is never used.
                    if (name.StartsWith('.') || name.EndsWith('~') || name.EndsWith(".swp", StringComparison.OrdinalIgnoreCase)) continue;
                    if (!name.Contains('@') || !Addresses.TryParse(name, null, out var address)) continue;
                    var key = Addresses.Key(address);
                    next[key] = _files.TryGetValue(key, out var known) && known.Path == path ? known : new ListFile(path, address);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogFolderError(ex);
                return;
            }
        }
        _files = next;
    }

    private void Refresh(ListFile file)
    {
        try
        {
            var info = new FileInfo(file.Path);
            if (!info.Exists)
            {
                file.List = null;
                file.Stamp = default;
                return;
            }
            var stamp = (info.LastWriteTimeUtc, info.Length);
            if (file.List is not null && stamp == file.Stamp) return;
            var members = new List<ListMember>();
            var lineNumber = 0;
            foreach (var raw in File.ReadLines(file.Path))
            {
                lineNumber++;
                var hash = raw.IndexOf('#');
                var line = (hash >= 0 ? raw[..hash] : raw).Trim();
                if (line.Length == 0) continue;
                if (Addresses.TryParseMember(line, file.Address.Domain, out var member)) members.Add(member);
                else _logger.LogWarning("{Path}:{Line}: '{Text}' is not an address; skipped", file.Path, lineNumber, line);
            }
            file.List = Build(file.Address, MailingList.DefaultOwner(file.Address), null, members);
            file.Stamp = stamp;
            _logger.LogInformation("list {List}: {Count} members read from {Path}", file.Address, file.List.Members.Count, file.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Keep the last good version: a list that vanishes for one transient read error would bounce mail.
            _logger.LogWarning(ex, "list file {Path} could not be read; using the previous version", file.Path);
        }
    }

    private void LogFolderError(Exception ex) => _logger.LogWarning(ex, "list folder {Directory} could not be read", _directory);

    private sealed class ListFile(string path, SmtpAddress address)
    {
        public string Path { get; } = path;
        public SmtpAddress Address { get; } = address;
        public MailingList? List { get; set; }
        public (DateTime, long) Stamp { get; set; }
    }
}
