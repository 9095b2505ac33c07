// Refuses RCPT to unknown users of the local domains (550 5.1.1); users come from settings and/or a file.
//
// Settings (Scripts:Settings:recipient-validation):
//   Users      array of user names ("alice") or full addresses ("alice@example.org")
//   UsersFile  a file with one user or address per line, '#' starts a comment; re-read when it changes.
//              A relative path is taken from the working directory.
// With neither configured the script says nothing (Continue): safe by default.
// postmaster is always accepted (RFC 5321 section 4.5.1). Other domains are left to the relay checks.
// A known user is passed on (Continue), so the built-in check still applies: with Mailboxes:AcceptAnyLocalPart false it
// accepts only Mailboxes:Users and system users. Set AcceptAnyLocalPart to true to let this script's list decide.

var configured = Settings.GetSection("Users").GetChildren()
    .Select(c => c.Value?.Trim())
    .Where(v => !string.IsNullOrEmpty(v))
    .Select(v => v!.ToLowerInvariant())
    .ToHashSet();
var usersFile = Settings["UsersFile"] is { Length: > 0 } f ? Path.GetFullPath(f) : null;

if (configured.Count == 0 && usersFile is null)
{
    Log.LogInformation("recipient-validation: no Users or UsersFile configured; every local recipient is left to the server");
    return;
}

// The file's users and the time it was last written; replaced as a whole, so readers never see half a list.
(DateTime Stamp, HashSet<string> Users) fromFile = (DateTime.MinValue, new HashSet<string>());

HashSet<string>? FileUsers()
{
    if (usersFile is null) return new HashSet<string>();
    if (!File.Exists(usersFile)) return null;
    var stamp = File.GetLastWriteTimeUtc(usersFile);
    var current = fromFile;
    if (stamp == current.Stamp) return current.Users;
    var users = File.ReadAllLines(usersFile)
        .Select(line => line.Split('#', 2)[0].Trim().ToLowerInvariant())
        .Where(line => line.Length > 0)
        .ToHashSet();
    fromFile = (stamp, users);
    Log.LogInformation("recipient-validation: {Count} user(s) read from {File}", users.Count, usersFile);
    return users;
}

On<RcptContext>(ctx =>
{
    if (!ctx.IsLocalDomain || ctx.Recipient.Address.IsPostmaster) return HookResult.Continue;
    var local = ctx.Recipient.Address.LocalPart.ToLowerInvariant();
    var full = local + "@" + ctx.Recipient.Address.Domain.ToLowerInvariant();
    if (configured.Contains(local) || configured.Contains(full)) return HookResult.Continue;

    var fileUsers = FileUsers();
    // A configured but missing file is an operator mistake: defer rather than bounce mail for real users.
    if (fileUsers is null) return HookResult.Defer("Recipient verification unavailable, try again later", 451, "4.3.0");
    if (fileUsers.Contains(local) || fileUsers.Contains(full)) return HookResult.Continue;

    return HookResult.Reject($"<{ctx.Recipient.Address}>: Recipient address rejected: User unknown", 550, "5.1.1");
});
