// Resolves the configured folders against the data directory, once.
namespace Mta.Engine.Configuration;

public sealed class MtaPaths
{
    public MtaPaths(MtaOptions options)
    {
        DataDirectory = Path.GetFullPath(options.DataDirectory);
        QueueDirectory = Path.GetFullPath(Path.Combine(DataDirectory, options.Queue.Path));
        MaildirRoot = Path.GetFullPath(Path.Combine(DataDirectory, options.Mailboxes.Root));
        ControlSocketPath = Path.Combine(DataDirectory, "control.sock");
    }

    public string DataDirectory { get; }
    public string QueueDirectory { get; }
    public string MaildirRoot { get; }

    /// <summary>The full path of a file or folder named in the configuration (a map, a password file): relative paths
    /// are resolved by the one rule for relative paths in the configuration.</summary>
    public string Resolve(string path) => Path.GetFullPath(path);

    /// <summary>The running server's local control socket (Unix domain): <c>DATA/control.sock</c>. Any local user may
    /// connect (mode 0666; the data directory must be searchable for them) to attach a terminal; the queue commands
    /// serve only the server's own user and root.</summary>
    public string ControlSocketPath { get; }
}
