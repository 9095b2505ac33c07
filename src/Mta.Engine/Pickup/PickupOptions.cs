// Settings of the maildrop folder that sendmail(1) writes to and the server's pickup reads from.
namespace Mta.Engine.Pickup;

/// <summary>The maildrop (<c>Pickup</c> in mta.config.json): where local submissions wait for the server, and whom the
/// server believes about the envelope sender.</summary>
public sealed class PickupOptions
{
    /// <summary>Take mail from the maildrop. Defaults to true: cron, <c>mail</c> and PHP's <c>mail()</c> call sendmail, and
    /// their mail must not wait in the folder for ever.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The maildrop folder. Defaults to <c>maildrop</c> in the data directory (as Postfix keeps
    /// <c>maildrop</c> in its queue directory); a path given here is resolved by the configuration's rule for relative
    /// paths. The server creates it at start with mode 1733: anyone may create a file, nobody but the server's user may
    /// list it, nobody may remove another's file.</summary>
    public string? Directory { get; set; }

    /// <summary>Unix users whose <c>sendmail -f</c> is believed, beside root and the server's own user, who are always
    /// trusted (Postfix's <c>authorized_submit_users</c> has no such list; this is sendmail's <c>T</c> class). Everyone
    /// else's envelope sender is <c>user@HostName</c> whatever -f says. Defaults to none.</summary>
    public List<string> TrustedUsers { get; set; } = [];

    /// <summary>How often the maildrop is scanned again for files the watcher missed or that failed for a temporary
    /// reason (a hook's 4xx, a full disk). Defaults to 1 minute, as Postfix's pickup wakes up every 60 s.</summary>
    public TimeSpan RescanInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The maildrop's full path: <see cref="Directory"/> through <paramref name="paths"/>, else
    /// <c>DATA/maildrop</c>.</summary>
    public string ResolveDirectory(Configuration.MtaPaths paths) =>
        string.IsNullOrWhiteSpace(Directory) ? Path.Combine(paths.DataDirectory, "maildrop") : paths.Resolve(Directory);
}
