// The one rule for paths in the configuration: relative to the config file's folder; the server's own state inside the data directory.
namespace Mta.Engine.Configuration;

/// <summary>
/// Resolves the paths of a configuration, once. A relative path is relative to the folder of the configuration file
/// (<see cref="MtaOptions.ConfigDirectory"/>; the working directory for options built in code), so the server, every
/// <c>mta</c> command and any working directory agree. The files the server keeps itself (queue, Maildirs, users file,
/// DKIM keys, control socket) are named relative to <see cref="DataDirectory"/> instead (<see cref="ResolveInData"/>),
/// which itself follows the first rule.
/// </summary>
public sealed class MtaPaths
{
    public MtaPaths(MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConfigDirectory = ConfigDirectoryOf(options);
        DataDirectory = Resolve(options.DataDirectory);
        QueueDirectory = ResolveInData(options.Queue.Path);
        MaildirRoot = ResolveInData(options.Mailboxes.Root);
        ControlSocketPath = Path.Combine(DataDirectory, "control.sock");
    }

    /// <summary>The folder relative paths of the configuration are resolved against.</summary>
    public string ConfigDirectory { get; }

    public string DataDirectory { get; }
    public string QueueDirectory { get; }
    public string MaildirRoot { get; }

    /// <summary>The full path of a file or folder named in the configuration (a map, a password file, a certificate, the
    /// scripts or plugins folder): a relative path is relative to the configuration file's folder.</summary>
    public string Resolve(string path) => Path.GetFullPath(path, ConfigDirectory);

    /// <summary>The full path of a file the server keeps in its data directory (the users file, DKIM keys): a relative
    /// path is relative to <see cref="DataDirectory"/>.</summary>
    public string ResolveInData(string path) => Path.GetFullPath(path, DataDirectory);

    /// <summary><see cref="Resolve"/> for options at hand, without resolving (or needing valid) the other paths, as
    /// the validator needs.</summary>
    public static string ResolveFor(MtaOptions options, string path) => Path.GetFullPath(path, ConfigDirectoryOf(options));

    private static string ConfigDirectoryOf(MtaOptions options) =>
        Path.GetFullPath(options.ConfigDirectory ?? Directory.GetCurrentDirectory());

    /// <summary>The running server's local control socket (Unix domain): <c>DATA/control.sock</c>. Any local user may
    /// connect (mode 0666; the data directory must be searchable for them) to attach a terminal; the queue commands
    /// serve only the server's own user and root.</summary>
    public string ControlSocketPath { get; }
}
