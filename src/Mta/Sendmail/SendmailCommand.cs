// sendmail(1), mailq(1) and `mta sendmail`: the local submission entry point, which writes to the maildrop and so works
// whether or not the server runs.
using System.Runtime.InteropServices;
using Mta.Configuration;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Pickup;

namespace Mta.Sendmail;

/// <summary>Runs the sendmail-compatible command line. Exit codes are sysexits.h (<see cref="SysExits"/>).</summary>
public static class SendmailCommand
{
    /// <summary>The names the <c>mta</c> executable answers to as sendmail.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal) { "sendmail", "mailq", "newaliases" };

    /// <summary>The name this process was started by: the first entry of /proc/self/cmdline (argv[0] as the caller
    /// gave it: a symbolic link's name, not its target, unlike <see cref="Environment.ProcessPath"/>); null elsewhere.</summary>
    public static string? InvokedName()
    {
        try
        {
            var cmdline = File.ReadAllBytes("/proc/self/cmdline");
            var end = Array.IndexOf(cmdline, (byte)0);
            var argv0 = System.Text.Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end);
            return Path.GetFileName(argv0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Runs sendmail with <paramref name="args"/> as invoked by <paramref name="invokedAs"/>.</summary>
    public static async Task<int> RunAsync(string invokedAs, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var stderr = Console.Error;
        var parsed = SendmailArguments.Parse(args, invokedAs, out var usage);
        if (parsed is null) return Fail(SysExits.Usage, usage!);
        if (parsed.Mode == SendmailMode.Nothing) return SysExits.Ok;

        LoadedConfig loaded;
        try
        {
            loaded = ConfigLoader.Load(parsed.ConfigPath ?? NonEmpty(Environment.GetEnvironmentVariable("MTA_CONFIG")));
        }
        catch (ConfigException ex)
        {
            return Fail(SysExits.Config, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return Fail(SysExits.Config, ex.Message);
        }
        var options = loaded.Options;
        var paths = new MtaPaths(options);
        switch (parsed.Mode)
        {
            case SendmailMode.ListQueue:
            case SendmailMode.Flush:
                return await ControlAsync(paths, parsed, cancellationToken);
            case SendmailMode.InitializeAliases:
                return await NewAliasesAsync(options, paths, parsed.Verbose, cancellationToken);
            case SendmailMode.Smtp:
                {
                    var session = new SmtpStdioSession(options, paths, CurrentUser(), Console.OpenStandardInput(), Console.OpenStandardOutput());
                    return await session.RunAsync(cancellationToken);
                }
        }

        var message = await LocalMessage.ReadAsync(Console.OpenStandardInput(), parsed.IgnoreDots, options.Limits.MaxMessageSize, cancellationToken);
        if (message is null) return Fail(SysExits.DataError, $"message larger than the server's limit of {options.Limits.MaxMessageSize} bytes");
        var user = CurrentUser();

        var recipients = new List<string>();
        foreach (var argument in parsed.Recipients)
        {
            if (!LocalMessage.TryParseAddresses(argument, out var addresses)) return Fail(SysExits.DataError, $"bad recipient address: {argument}");
            recipients.AddRange(addresses);
        }
        if (parsed.ExtractRecipients)
        {
            var (header, _) = LocalMessage.Split(message);
            recipients.AddRange(LocalMessage.HeaderRecipients(header));
        }
        var envelopeRecipients = recipients.Select(r => LocalMessage.Qualify(r, options.HostName)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (envelopeRecipients.Count == 0)
        {
            return Fail(SysExits.Usage, parsed.ExtractRecipients
                ? "no recipient addresses found in the message header (nor on the command line)"
                : "recipient addresses must be given on the command line or via the -t option");
        }
        var sender = parsed.Sender is null ? null : LocalMessage.Qualify(parsed.Sender, options.HostName);
        var from = string.IsNullOrEmpty(sender) ? user + "@" + options.HostName : sender;
        var fixedUp = LocalMessage.FixUp(message, parsed.ExtractRecipients, from, parsed.FullName, options.HostName, DateTimeOffset.Now);
        var envelope = new MaildropEnvelope(sender, envelopeRecipients, parsed.Ret, parsed.EnvelopeId, parsed.Notify);
        var code = Drop(options, paths, envelope, fixedUp, out var name);
        if (code == SysExits.Ok && parsed.Verbose) await stderr.WriteLineAsync($"sendmail: queued in the maildrop as {name}");
        return code;
    }

    /// <summary>Writes one message into the maildrop; a sysexits code, with a message on standard error when not 0.</summary>
    internal static int Drop(MtaOptions options, MtaPaths paths, MaildropEnvelope envelope, byte[] message, out string? name)
    {
        name = null;
        var directory = options.Pickup.ResolveDirectory(paths);
        if (!Directory.Exists(directory))
            return Fail(SysExits.Unavailable, $"no maildrop at {directory}: the server creates it when it starts ('mta run'), once");
        try
        {
            name = Path.GetFileName(MaildropFile.Write(directory, envelope, message));
            return SysExits.Ok;
        }
        catch (ArgumentException ex)
        {
            return Fail(SysExits.DataError, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return Fail(SysExits.CantCreate, $"cannot write to the maildrop {directory}: {ex.Message}");
        }
        catch (IOException ex)
        {
            return Fail(Mta.Engine.Spool.DurableIo.IsDiskFull(ex) ? SysExits.TempFail : SysExits.IoError, $"cannot write to the maildrop {directory}: {ex.Message}");
        }
    }

    // -bp (mailq) and -q: through the control socket, as `mta queue list` and `mta queue flush`.
    private static async Task<int> ControlAsync(MtaPaths paths, SendmailArguments parsed, CancellationToken cancellationToken)
    {
        try
        {
            await using var client = await ControlClient.ConnectAsync(paths.ControlSocketPath, cancellationToken);
            var code = parsed.Mode == SendmailMode.ListQueue
                ? await QueueCommand.ListAsync(client, json: false, cancellationToken)
                : await QueueCommand.FlushAsync(client, null, parsed.FlushDomain, cancellationToken);
            return code == 0 ? SysExits.Ok : SysExits.Software;
        }
        catch (ControlServerUnavailableException ex)
        {
            return Fail(SysExits.Unavailable, ex.Message);
        }
        catch (ControlCommandException ex) when (ex.Code == ControlErrorCodes.Forbidden)
        {
            return Fail(SysExits.NoPermission, ex.Message);
        }
        catch (ControlException ex)
        {
            return Fail(SysExits.Software, ex.Message);
        }
    }

    /// <summary>
    /// newaliases (<c>-bi</c>). There is no alias database to build: the server reads the alias files as they are and
    /// re-reads one when it is saved. What is left of the command is what an administrator runs it for: every problem
    /// of the alias files (and their <c>:include:</c> files) named by file and line, exit 65 when there is one, and the
    /// running server told to re-read them now (a reload), so that a change is in service when the command returns.
    /// Without a running server the check alone is done: the server reads the files when it starts.
    /// </summary>
    private static async Task<int> NewAliasesAsync(MtaOptions options, MtaPaths paths, bool verbose, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        var errors = Mta.Engine.Maps.AliasTable.Check(options, paths, warnings);
        foreach (var warning in warnings) Console.Error.WriteLine("newaliases: warning: " + warning);
        if (errors.Count > 0)
        {
            foreach (var error in errors) Console.Error.WriteLine("newaliases: " + error);
            return SysExits.DataError;
        }
        if (options.Aliases.Files.Count == 0)
            Console.Error.WriteLine("newaliases: warning: no alias files are configured (Aliases:Files)");
        try
        {
            var result = await ReloadCommand.AskAsync(paths.ControlSocketPath, cancellationToken);
            if (!result.Applied)
            {
                Console.Error.WriteLine("newaliases: the server refused to reload, it keeps the aliases in service:");
                foreach (var error in result.Errors) Console.Error.WriteLine("  " + error);
                return SysExits.Config;
            }
            if (verbose) Console.Error.WriteLine($"newaliases: the server re-read {result.Source} and the alias files");
        }
        catch (ControlServerUnavailableException)
        {
            if (verbose) Console.Error.WriteLine("newaliases: no server running; it reads the alias files when it starts");
        }
        catch (ControlCommandException ex) when (ex.Code == ControlErrorCodes.Forbidden)
        {
            // A user who may edit the files but not reload the server: the server still sees the saved files.
            Console.Error.WriteLine($"newaliases: the alias files are valid; not allowed to make the server reload ({ex.Message}), it re-reads a file when it is saved");
        }
        catch (ControlException ex)
        {
            return Fail(SysExits.Software, ex.Message);
        }
        return SysExits.Ok;
    }

    /// <summary>The login name of the real uid (who ran the command, whatever it is installed as).</summary>
    internal static string CurrentUser()
    {
        var uid = getuid();
        return Mta.Engine.Terminal.UnixUsers.NameOf(uid) ?? "uid" + uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    internal static int Fail(int code, string message)
    {
        Console.Error.WriteLine("sendmail: " + message);
        return code;
    }

    [DllImport("libc")]
    private static extern uint getuid();
}
