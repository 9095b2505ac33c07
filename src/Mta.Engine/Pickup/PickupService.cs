// The server's pickup: creates the maildrop, scans it at start and on a timer, watches it, and submits each file.
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Bounces;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Receiver;
using Mta.Engine.Terminal;
using Mta.Protocol;

namespace Mta.Engine.Pickup;

/// <summary>
/// Takes local submissions from the maildrop (Postfix's pickup). Each complete file (never a <c>.tmp</c> one) is opened
/// without following links, its owner's uid decides the user, and the message goes through the engine's own SMTP session
/// (<see cref="PickupSubmitter"/>). The file is deleted only after the spool's commit (fsync) returned its queue id, so
/// nothing is lost: a crash between the commit and the delete delivers the message twice, never not at all. Recipients
/// (or the whole message) the session refuses for good are bounced to the envelope sender, as Postfix's cleanup
/// bounces local mail it cannot take. A file that is not in the format, or that is refused and cannot be bounced (the
/// null sender), moves to the <c>corrupt</c> folder beside the maildrop with a <c>.error</c> file saying why; one
/// refused for now stays and is tried again at the next scan.
/// </summary>
internal sealed partial class PickupService : BackgroundService
{
    private readonly MtaOptions _options;
    private readonly PickupSubmitter _submitter;
    private readonly IMessageSubmitter _bounces;
    private readonly ILogger<PickupService> _logger;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _trusted;
    private readonly Channel<string> _names = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    // Names waiting in the channel: a file the watcher and a scan both report is submitted once.
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);

    public PickupService(MtaOptions options, MtaPaths paths, PickupSubmitter submitter, IMessageSubmitter bounces, TimeProvider time,
        ILogger<PickupService> logger)
    {
        _options = options;
        _submitter = submitter;
        _bounces = bounces;
        _time = time;
        _logger = logger;
        Directory = options.Pickup.ResolveDirectory(paths);
        CorruptDirectory = Path.Combine(Path.GetDirectoryName(Directory)!, "corrupt");
        _trusted = new HashSet<string>(options.Pickup.TrustedUsers, StringComparer.Ordinal) { "root" };
        if (OwnUserName() is { } own) _trusted.Add(own);
    }

    /// <summary>The maildrop folder.</summary>
    public string Directory { get; }

    /// <summary>Where files the pickup cannot take end up, each beside a <c>NAME.error</c> saying why.</summary>
    public string CorruptDirectory { get; }

    /// <summary>Users whose envelope sender is believed.</summary>
    public IReadOnlySet<string> TrustedUsers => _trusted;

    /// <summary>Creates the maildrop with mode 1733 (as Postfix's maildrop is 1730 with a setgid postdrop; Mta has no
    /// setgid helper, so everyone may write, and the sticky bit keeps each file its writer's).</summary>
    public static void CreateMaildrop(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.StickyBit | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Pickup.Enabled)
        {
            LogDisabled();
            return Task.CompletedTask;
        }
        CreateMaildrop(Directory);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = Watch();
        LogWatching(Directory, string.Join(", ", _trusted.Order(StringComparer.Ordinal)));
        Scan();
        using var rescan = _time.CreateTimer(_ => Scan(), null, _options.Pickup.RescanInterval, _options.Pickup.RescanInterval);
        try
        {
            await foreach (var name in _names.Reader.ReadAllAsync(stoppingToken))
            {
                lock (_pending) _pending.Remove(name);
                await TakeAsync(name, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    // The watcher, or null when the system refuses one (inotify instances used up): then the timer's scans find the files.
    private FileSystemWatcher? Watch()
    {
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(Directory) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName };
            watcher.Created += (_, e) => Enqueue(e.Name);
            watcher.Renamed += (_, e) => Enqueue(e.Name);
            // A lost event (the kernel's queue overflowed) is made good by a scan.
            watcher.Error += (_, _) => Scan();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            watcher?.Dispose();
            LogScanFailed(Directory, $"cannot watch it ({ex.Message}); scanning every {_options.Pickup.RescanInterval} instead");
            return null;
        }
    }

    private void Scan()
    {
        try
        {
            foreach (var path in System.IO.Directory.EnumerateFiles(Directory)) Enqueue(Path.GetFileName(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogScanFailed(Directory, ex.Message);
        }
    }

    private void Enqueue(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.EndsWith(MaildropFile.TemporarySuffix, StringComparison.Ordinal) || name.StartsWith('.')) return;
        lock (_pending)
        {
            if (!_pending.Add(name)) return;
        }
        _names.Writer.TryWrite(name);
    }

    /// <summary>Submits one file; never throws except on shutdown.</summary>
    internal async Task TakeAsync(string name, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Directory, name);
        byte[]? bytes;
        uint uid;
        try
        {
            using var file = OwnedFile.Open(path, out var refusal);
            if (file is null)
            {
                Quarantine(name, path, refusal!);
                return;
            }
            uid = file.OwnerUid;
            // The envelope is small; the message may be at most the server's size limit.
            bytes = await file.ReadAllAsync(_options.Limits.MaxMessageSize + 64 * 1024, cancellationToken);
            if (bytes is null)
            {
                Quarantine(name, path, $"larger than Limits:MaxMessageSize ({_options.Limits.MaxMessageSize} bytes)");
                return;
            }
        }
        catch (FileNotFoundException)
        {
            return; // taken already (a scan and the watcher both saw it)
        }
        catch (IOException ex) when (ex.HResult == 2 /* ENOENT */)
        {
            return;
        }
        catch (IOException ex)
        {
            LogDeferred(name, "-", ex.Message);
            return;
        }

        if (!MaildropFile.TryParse(bytes, out var envelope, out var message, out var error))
        {
            Quarantine(name, path, error!);
            return;
        }
        var user = UnixUsers.NameOf(uid) ?? "uid" + uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var trusted = _trusted.Contains(user);
        // Postfix's rule: the envelope sender is the user's unless the user is trusted and asked for another one.
        var sender = trusted && envelope!.Sender is not null ? envelope.Sender : user + "@" + _options.HostName;

        PickupResult result;
        try
        {
            result = await _submitter.SubmitAsync(user, sender, envelope!, message, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            LogDeferred(name, user, ex.Message);
            return;
        }
        foreach (var refused in result.Refused) LogRecipientRefused(name, user, refused.ToString());
        switch (result.Kind)
        {
            case PickupResultKind.Queued:
                LogPickedUp(name, uid, user, sender, envelope!.Recipients.Count - result.Refused.Count, result.QueueId ?? "-");
                if (result.Refused.Count > 0) await BounceAsync(name, sender, envelope, result.Refused, message, result.QueueId, cancellationToken);
                Delete(path);
                break;
            case PickupResultKind.TryAgain:
                LogDeferred(name, user, result.Detail);
                break;
            default:
                LogFailed(name, user, result.Detail);
                // Refused whole (MAIL or the message itself): every recipient failed with that reply.
                var failed = result.Reply is { } reply && result.Refused.Count == 0
                    ? envelope!.Recipients.Select(r => new RefusedRecipient(r, reply)).ToList()
                    : result.Refused;
                if (failed.Count > 0 && await BounceAsync(name, sender, envelope!, failed, message, null, cancellationToken)) Delete(path);
                else Quarantine(name, path, "refused: " + result.Detail + (result.Refused.Count > 0 ? "; " + string.Join("; ", result.Refused) : ""), log: false);
                break;
        }
    }

    /// <summary>Sends the sender a DSN (RFC 3464) about recipients refused for good; true when one was queued or none was
    /// asked for (NOTIFY=NEVER), false when it could not be sent (the null sender, a failure).</summary>
    private async Task<bool> BounceAsync(string name, string sender, MaildropEnvelope envelope, IReadOnlyList<RefusedRecipient> refused,
        ReadOnlyMemory<byte> message, string? queueId, CancellationToken cancellationToken)
    {
        if (sender.Length == 0 || !LocalAddress(sender, out var to)) return false;
        _ = SmtpCommandParser.TryParseRcptParameters(envelope.Notify is null ? "" : "NOTIFY=" + envelope.Notify, out var rcptParameters, out _);
        var now = _time.GetUtcNow();
        var recipients = refused
            .Select(r => new DsnRecipient(new EnvelopeRecipient(LocalAddress(r.Address, out var a) ? a : new SmtpAddress(r.Address, ""), rcptParameters?.Notify ?? DsnNotify.Default),
                DsnAction.Failed, r.Reply.EnhancedCode ?? "5.0.0", PickupSubmitter.Flat(r.Reply), null, _options.HostName, now, null))
            .Where(r => DsnPolicy.IsRequested(r.Recipient, DsnAction.Failed))
            .ToList();
        if (recipients.Count == 0) return true;
        try
        {
            var ret = envelope.Ret switch { "FULL" => DsnReturn.Full, "HDRS" => DsnReturn.Headers, _ => DsnReturn.Unspecified };
            var request = new DsnRequest(_options.HostName, queueId ?? name, now, to, envelope.EnvelopeId, ret, null, recipients,
                new BufferedMessage(new System.Buffers.ReadOnlySequence<byte>(message)), _options.Queue.BounceSizeLimit, to, false, now);
            var dsn = DsnBuilder.ToWireBytes(await DsnBuilder.BuildAsync(request, cancellationToken));
            var never = new[] { new EnvelopeRecipient(to, DsnNotify.Never) };
            var eightBit = message.Span.IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0;
            var dsnId = _bounces is MessageSubmitter submitter
                ? await submitter.SubmitAsync(SmtpAddress.Null, never, dsn, BounceSender.DsnNotification, (eightBit, !to.IsAscii), cancellationToken)
                : await _bounces.SubmitAsync(SmtpAddress.Null, never, dsn, cancellationToken);
            LogBounced(name, dsnId, to.ToPathString(), recipients.Count);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(name, "-", "could not bounce to the sender: " + ex.Message);
            return false;
        }
    }

    private static bool LocalAddress(string text, out SmtpAddress address)
    {
        var path = "<" + text + ">";
        return SmtpPathParser.TryParseForwardPath(path, allowUtf8: true, out address, out var consumed, out _) && consumed == path.Length;
    }

    private void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Queued already; left behind, the file would be delivered again at the next scan. Say so loudly.
            LogFailed(Path.GetFileName(path), "-", "queued, but the file could not be removed and will be taken again: " + ex.Message);
        }
    }

    private void Quarantine(string name, string path, string reason, bool log = true)
    {
        if (log) LogCorrupt(name, reason);
        try
        {
            System.IO.Directory.CreateDirectory(CorruptDirectory);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(CorruptDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.Move(path, Path.Combine(CorruptDirectory, name), overwrite: true);
            File.WriteAllText(Path.Combine(CorruptDirectory, name + ".error"), reason + Environment.NewLine);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogScanFailed(CorruptDirectory, $"could not move {name} there: {ex.Message}");
        }
    }

    private static string? OwnUserName()
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            return UnixUsers.NameOf(geteuid());
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();

    [LoggerMessage(EventId = LogEvents.Pickup.Watching, Level = LogLevel.Information, Message = "pickup: watching maildrop {Directory}; trusted users: {Trusted}")]
    private partial void LogWatching(string directory, string trusted);

    [LoggerMessage(EventId = LogEvents.Pickup.PickedUp, Level = LogLevel.Information, Message = "pickup: file={File} uid={Uid} user={User} from=<{Sender}> nrcpt={Recipients} queued as {QueueId}")]
    private partial void LogPickedUp(string file, uint uid, string user, string sender, int recipients, string queueId);

    [LoggerMessage(EventId = LogEvents.Pickup.Corrupt, Level = LogLevel.Warning, Message = "pickup: file={File} corrupt, moved to the corrupt folder: {Reason}")]
    private partial void LogCorrupt(string file, string reason);

    [LoggerMessage(EventId = LogEvents.Pickup.Failed, Level = LogLevel.Warning, Message = "pickup: file={File} user={User} failed: {Reason}")]
    private partial void LogFailed(string file, string user, string reason);

    [LoggerMessage(EventId = LogEvents.Pickup.Deferred, Level = LogLevel.Warning, Message = "pickup: file={File} user={User} deferred, tried again at the next scan: {Reason}")]
    private partial void LogDeferred(string file, string user, string reason);

    [LoggerMessage(EventId = LogEvents.Pickup.RecipientRefused, Level = LogLevel.Warning, Message = "pickup: file={File} user={User} recipient refused: {Refusal}")]
    private partial void LogRecipientRefused(string file, string user, string refusal);

    [LoggerMessage(EventId = LogEvents.Pickup.Bounced, Level = LogLevel.Information, Message = "pickup: file={File} refused recipients bounced: {DsnQueueId} to {To} about {Recipients} recipient(s)")]
    private partial void LogBounced(string file, string dsnQueueId, string to, int recipients);

    [LoggerMessage(EventId = LogEvents.Pickup.ScanFailed, Level = LogLevel.Error, Message = "pickup: {Directory}: {Reason}")]
    private partial void LogScanFailed(string directory, string reason);

    [LoggerMessage(EventId = LogEvents.Pickup.Disabled, Level = LogLevel.Information, Message = "pickup: off (Pickup:Enabled is false); files in the maildrop wait")]
    private partial void LogDisabled();
}
