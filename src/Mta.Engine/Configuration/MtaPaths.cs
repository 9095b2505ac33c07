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

    /// <summary>The running server's local control socket (Unix domain, mode 0600): <c>DATA/control.sock</c>.</summary>
    public string ControlSocketPath { get; }
}
