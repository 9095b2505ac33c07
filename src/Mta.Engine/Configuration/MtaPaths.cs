// Resolves the configured folders against the data directory, once.
namespace Mta.Engine.Configuration;

public sealed class MtaPaths
{
    public MtaPaths(MtaOptions options)
    {
        DataDirectory = Path.GetFullPath(options.DataDirectory);
        QueueDirectory = Path.GetFullPath(Path.Combine(DataDirectory, options.Queue.Path));
        MaildirRoot = Path.GetFullPath(Path.Combine(DataDirectory, options.Mailboxes.Root));
    }

    public string DataDirectory { get; }
    public string QueueDirectory { get; }
    public string MaildirRoot { get; }
}
