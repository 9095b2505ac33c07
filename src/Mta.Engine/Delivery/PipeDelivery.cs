// Delivery to a command: /bin/sh -c COMMAND in its own session, as the account, the message on stdin, sysexits mapped to DSN codes.
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;
using Mta.Engine.Spool;

namespace Mta.Engine.Delivery;

/// <summary>
/// Runs a command for one recipient's copy, as Postfix's local(8) and pipe(8) do: <c>/bin/sh -c COMMAND</c> in a new
/// session and process group (util-linux <c>setsid</c>), as the account when the server runs as root (util-linux
/// <c>setpriv --reuid --regid --init-groups</c>: .NET's Process cannot change uid), in the account's home (else
/// <c>/</c>), with a clean environment holding the envelope, and the message with LF line endings and
/// <c>Return-Path:</c> and <c>Delivered-To:</c> on top on its standard input. Exit 0 is delivered; the sysexits codes
/// bounce or defer as Postfix's <c>sys_exits</c> table says; a signal defers; any other status bounces; a command that
/// overruns its time limit is killed with its whole process group and deferred. Standard output and error (the first
/// 4 KB) go into the detail. Nothing blocks a thread while the command runs; cancellation kills it too.
/// </summary>
public sealed partial class PipeDelivery : IPipeDelivery
{
    /// <summary>Postfix's VSTREAM_BUFSIZE: the output kept for the detail.</summary>
    internal const int OutputLimit = 4096;
    private const string SafePath = "/usr/bin:/bin";
    private const int SIGKILL = 9;

    private readonly MtaOptions _options;
    private readonly UnixAccounts _accounts;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public PipeDelivery(MtaOptions options, UnixAccounts accounts, TimeProvider time, ILogger<PipeDelivery> logger)
    {
        _options = options;
        _accounts = accounts;
        _time = time;
        _logger = logger;
    }

    /// <inheritdoc />
    public ValueTask<DeliveryOutcome> PipeAsync(string command, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
        CancellationToken cancellationToken) =>
        PipeAsync(command, runAs, message, recipient, _options.Transports.CommandTimeLimit, cancellationToken);

    /// <summary>As <see cref="PipeAsync(string, UnixAccount?, IQueuedMessage, EnvelopeRecipient, CancellationToken)"/>,
    /// with the time limit of a pipe transport.</summary>
    public async ValueTask<DeliveryOutcome> PipeAsync(string command, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
        TimeSpan timeLimit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(recipient);
        var account = EffectiveAccount(runAs);
        if (account is null)
            return Deferred(message, recipient, command, "4.3.5", "4.3.5 no unprivileged account to run the command as (nobody is missing)");
        var start = StartInfo(command, account, message, recipient);
        if (start is null)
            return Deferred(message, recipient, command, "4.3.5", "4.3.5 cannot run commands: util-linux setsid or setpriv is missing");

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return Deferred(message, recipient, command, "4.3.0", $"4.3.0 cannot start the command: {ex.Message}");
        }
        var pid = process.Id;
        var output = new OutputCollector();
        using var limit = new CancellationTokenSource(timeLimit, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, cancellationToken);
        var feeding = FeedAsync(process, message, recipient, linked.Token);
        var stdout = output.DrainAsync(process.StandardOutput.BaseStream, linked.Token);
        var stderr = output.DrainAsync(process.StandardError.BaseStream, linked.Token);
        try
        {
            // Exit alone is not enough: a background child still holding the output open counts as running (Postfix too).
            await Task.WhenAll(feeding, stdout, stderr, process.WaitForExitAsync(linked.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillGroup(process, pid);
            // After SIGKILL to the group the exit is certain; a process that escaped into its own session is not waited for.
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10), _time);
            try
            {
                await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            if (cancellationToken.IsCancellationRequested) throw;
            var text = $"4.3.0 Command time limit exceeded ({timeLimit.TotalSeconds:0.###} s): \"{command}\"{output.Suffix}";
            LogTimedOut(_logger, message.QueueId, recipient.Address.ToString(), account.Name, command, timeLimit.TotalSeconds);
            return new DeliveryOutcome(DeliveryStatus.Deferred, "4.3.0", text);
        }
        finally
        {
            // Whatever ended the wait, nothing of the command may outlive the delivery.
            if (!process.HasExited) KillGroup(process, pid);
        }
        return Outcome(process.ExitCode, command, output.Suffix, message, recipient, account);
    }

    private DeliveryOutcome Outcome(int exitCode, string command, string output, IQueuedMessage message, EnvelopeRecipient recipient,
        UnixAccount account)
    {
        if (exitCode == 0)
        {
            LogDelivered(_logger, message.QueueId, recipient.Address.ToString(), account.Name, command);
            return DeliveryOutcome.Delivered($"delivered to command: {command}");
        }
        DeliveryOutcome outcome;
        if (SysExits.Find(exitCode) is { } known)
        {
            var status = known.Dsn[0] == '4' ? DeliveryStatus.Deferred : DeliveryStatus.Failed;
            outcome = new DeliveryOutcome(status, known.Dsn, $"{known.Dsn} {known.Text}{output}");
        }
        else if (exitCode > 128 && exitCode < 128 + 65)
        {
            // The shell, or .NET for a child killed by a signal, reports 128 + the signal: Postfix defers those.
            outcome = new DeliveryOutcome(DeliveryStatus.Deferred, "4.3.0", $"4.3.0 Command died with signal {exitCode - 128}: \"{command}\"{output}");
        }
        else
        {
            outcome = new DeliveryOutcome(DeliveryStatus.Failed, "5.3.0", $"5.3.0 Command died with status {exitCode}: \"{command}\"{output}");
        }
        LogFailed(_logger, message.QueueId, recipient.Address.ToString(), account.Name, command, exitCode, outcome.Detail);
        return outcome;
    }

    private DeliveryOutcome Deferred(IQueuedMessage message, EnvelopeRecipient recipient, string command, string code, string text)
    {
        LogFailed(_logger, message.QueueId, recipient.Address.ToString(), "-", command, -1, text);
        return new DeliveryOutcome(DeliveryStatus.Deferred, code, text);
    }

    /// <summary>Who the command runs as: as root, the account asked for unless that is root itself (then nobody, as
    /// Postfix's <c>default_privs</c>); otherwise the server's own user, named after the account asked for when given.</summary>
    private UnixAccount? EffectiveAccount(UnixAccount? runAs)
    {
        if (!_accounts.RunsAsRoot) return runAs ?? _accounts.ByUid(UnixAccounts.EffectiveUid) ?? new UnixAccount("mta", UnixAccounts.EffectiveUid, 0, "/", "/bin/sh");
        if (runAs is { Uid: not 0, Gid: not 0 }) return runAs;
        return _accounts.ByName("nobody") is { Uid: not 0 } nobody ? nobody : null;
    }

    private ProcessStartInfo? StartInfo(string command, UnixAccount account, IQueuedMessage message, EnvelopeRecipient recipient)
    {
        var setsid = Tool("setsid");
        if (setsid is null) return null;
        var start = new ProcessStartInfo(setsid)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = UsableHome(account.Home) ?? "/",
        };
        // --wait: setsid forks only when already a group leader, and then the status must still come back to us.
        start.ArgumentList.Add("--wait");
        if (_accounts.RunsAsRoot && UnixAccounts.IsEffectiveRoot)
        {
            var setpriv = Tool("setpriv");
            if (setpriv is null) return null;
            start.ArgumentList.Add(setpriv);
            start.ArgumentList.Add($"--reuid={account.Uid}");
            start.ArgumentList.Add($"--regid={account.Gid}");
            // initgroups needs the account in the system's database; an account known only to a test file gets none.
            start.ArgumentList.Add(UnixAccounts.SystemKnows(account.Uid) ? "--init-groups" : "--clear-groups");
            start.ArgumentList.Add("--");
        }
        start.ArgumentList.Add("/bin/sh");
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);

        var env = start.Environment;
        env.Clear();
        var address = recipient.Address;
        var (_, detail) = AddressDetail.Split(address.LocalPart, _options.Mailboxes.RecipientDelimiter);
        env["PATH"] = SafePath;
        env["SENDER"] = message.ReversePath.ToString();
        env["RECIPIENT"] = address.ToString();
        env["ORIGINAL_RECIPIENT"] = OriginalRecipient(recipient);
        env["LOCAL"] = address.LocalPart;
        env["DOMAIN"] = address.Domain;
        env["EXTENSION"] = detail ?? "";
        env["USER"] = account.Name;
        env["LOGNAME"] = account.Name;
        env["HOME"] = account.Home;
        env["SHELL"] = account.Shell.Length > 0 ? account.Shell : "/bin/sh";
        env["QUEUE_ID"] = message.QueueId;
        var envelope = (message as ISpooledMessage)?.Envelope;
        env["CLIENT_ADDRESS"] = envelope?.ClientAddress ?? "";
        env["CLIENT_HELO"] = envelope?.HeloName ?? "";
        return start;
    }

    /// <summary>The ORCPT address when it is an rfc822 one, else the recipient as received.</summary>
    private static string OriginalRecipient(EnvelopeRecipient recipient)
    {
        const string Rfc822 = "rfc822;";
        return recipient.OriginalRecipient is { } o && o.StartsWith(Rfc822, StringComparison.OrdinalIgnoreCase)
            ? o[Rfc822.Length..] : recipient.Address.ToString();
    }

    private static string? UsableHome(string home)
    {
        try
        {
            return home.Length > 0 && Path.IsPathRooted(home) && Directory.Exists(home) ? home : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? Tool(string name)
    {
        foreach (var dir in (ReadOnlySpan<string>)["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>Writes the copy to the command's stdin and closes it. A command that exits without reading it all is
    /// not an error (its exit status decides), so a broken pipe ends the copy quietly.</summary>
    private static async Task FeedAsync(Process process, IQueuedMessage message, EnvelopeRecipient recipient, CancellationToken ct)
    {
        var stdin = process.StandardInput.BaseStream;
        try
        {
            await MboxFileFormat.WriteAsync(message, recipient.Address, fromLine: null,
                (chunk, token) => stdin.WriteAsync(chunk, token), ct).ConfigureAwait(false);
            await stdin.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        finally
        {
            try { stdin.Dispose(); }
            catch (IOException) { }
        }
    }

    private static void KillGroup(Process process, int pid)
    {
        // The command runs in its own process group (setsid): one signal reaches the shell, the command and its children.
        if (OperatingSystem.IsWindows() || kill(-pid, SIGKILL) != 0)
        {
            try { process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
            catch (Win32Exception) { }
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>The first <see cref="OutputLimit"/> octets of stdout and stderr together; the rest is read and dropped,
    /// so a chatty command never blocks on a full pipe.</summary>
    private sealed class OutputCollector
    {
        private readonly byte[] _kept = new byte[OutputLimit];
        private int _length;

        public async Task DrainAsync(Stream stream, CancellationToken ct)
        {
            var buffer = new byte[4096];
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    lock (_kept)
                    {
                        var n = Math.Min(read, _kept.Length - _length);
                        buffer.AsSpan(0, n).CopyTo(_kept.AsSpan(_length));
                        _length += n;
                    }
                }
            }
            catch (IOException)
            {
            }
        }

        /// <summary><c>. Command output: TEXT</c> with tabs and line ends as spaces and other control octets as
        /// <c>_</c> (as Postfix), or empty when there was none.</summary>
        public string Suffix
        {
            get
            {
                string text;
                lock (_kept) text = Encoding.UTF8.GetString(_kept, 0, _length);
                var clean = new StringBuilder(text.Length);
                foreach (var c in text) clean.Append(c is '\t' or '\n' or '\r' ? ' ' : char.IsControl(c) ? '_' : c);
                var trimmed = clean.ToString().Trim();
                return trimmed.Length == 0 ? "" : ". Command output: " + trimmed;
            }
        }
    }

    [LoggerMessage(EventId = LogEvents.LocalTargets.PipeDelivered, Level = LogLevel.Information,
        Message = "{QueueId}: <{Recipient}> delivered to command as {Account}: {Command}")]
    private static partial void LogDelivered(ILogger logger, string queueId, string recipient, string account, string command);

    [LoggerMessage(EventId = LogEvents.LocalTargets.PipeFailed, Level = LogLevel.Warning,
        Message = "{QueueId}: <{Recipient}> command as {Account} failed (exit {ExitCode}): {Command}: {Detail}")]
    private static partial void LogFailed(ILogger logger, string queueId, string recipient, string account, string command, int exitCode, string detail);

    [LoggerMessage(EventId = LogEvents.LocalTargets.PipeTimedOut, Level = LogLevel.Warning,
        Message = "{QueueId}: <{Recipient}> command as {Account} killed after its time limit of {Seconds} s: {Command}")]
    private static partial void LogTimedOut(ILogger logger, string queueId, string recipient, string account, string command, double seconds);
}

/// <summary>The sendmail-compatible exit statuses (sysexits.h) and the DSN code and text Postfix's <c>sys_exits</c>
/// table gives each: a status starting with 4 defers, with 5 bounces.</summary>
internal static class SysExits
{
    /// <summary>One row: the exit status, its RFC 3463 code, its text.</summary>
    internal readonly record struct Entry(int Status, string Dsn, string Text);

    internal static readonly Entry[] Table =
    [
        new(64, "5.3.0", "command line usage error"),   // EX_USAGE
        new(65, "5.6.0", "data format error"),          // EX_DATAERR
        new(66, "5.3.0", "cannot open input"),          // EX_NOINPUT
        new(67, "5.1.1", "user unknown"),               // EX_NOUSER
        new(68, "5.1.2", "host name unknown"),          // EX_NOHOST
        new(69, "5.3.0", "service unavailable"),        // EX_UNAVAILABLE
        new(70, "5.3.0", "internal software error"),    // EX_SOFTWARE
        new(71, "4.3.0", "system resource problem"),    // EX_OSERR
        new(72, "5.3.0", "critical OS file missing"),   // EX_OSFILE
        new(73, "5.2.0", "can't create user output file"), // EX_CANTCREAT
        new(74, "5.3.0", "input/output error"),         // EX_IOERR
        new(75, "4.3.0", "temporary failure"),          // EX_TEMPFAIL
        new(76, "5.5.0", "remote error in protocol"),   // EX_PROTOCOL
        new(77, "5.7.0", "permission denied"),          // EX_NOPERM
        new(78, "5.3.5", "local configuration error"),  // EX_CONFIG
    ];

    /// <summary>The row of <paramref name="status"/>, or null when it is not a sysexits code.</summary>
    public static Entry? Find(int status) => status is >= 64 and <= 78 ? Table[status - 64] : null;
}
