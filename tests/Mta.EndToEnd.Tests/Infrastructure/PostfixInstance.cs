// Runs a private, loopback-only Postfix instance (own config, queue, data and Maildir folders under a temp folder) for interop tests.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>What the private Postfix instance accepts and where it sends mail.</summary>
public sealed record PostfixSettings
{
    /// <summary>Postfix's own name (greeting, Received, EHLO to the next hop). Must differ from Mta's HostName, or Postfix
    /// takes Mta's greeting for its own and refuses to deliver ("mail loops back to myself").</summary>
    public string HostName { get; init; } = "postfix.pf.test";

    /// <summary>The domain Postfix delivers into Maildirs (virtual(8)); only <see cref="Users"/> exist there, others get
    /// 550 5.1.1 at RCPT.</summary>
    public string MailboxDomain { get; init; } = "pf.test";

    public IReadOnlyList<string> Users { get; init; } = ["alice", "bob"];

    /// <summary>The transport map: recipient domain to next hop, as Postfix writes it (<c>[127.0.0.1]:2600</c>).
    /// These domains are relay domains too, so Postfix accepts mail for them from anyone.</summary>
    public IReadOnlyDictionary<string, string> Transport { get; init; } = new Dictionary<string, string>();

    /// <summary>Where every other non-local domain goes (<c>relayhost</c>, e.g. <c>[127.0.0.1]:2600</c>). None by default:
    /// such mail would need DNS, which is off, so it stays deferred.</summary>
    public string? RelayHost { get; init; }

    /// <summary><c>smtpd_milters</c>: milter addresses in Postfix's form (<c>unix:PATH</c>, <c>inet:HOST:PORT</c>), in
    /// the order they run. None by default.</summary>
    public IReadOnlyList<string> Milters { get; init; } = [];

    /// <summary><c>milter_default_action</c> (accept, tempfail, reject, quarantine); Postfix's own default (tempfail)
    /// when null.</summary>
    public string? MilterDefaultAction { get; init; }
}

/// <summary>
/// One Postfix instance of its own: <c>postfix -c DIR start</c> with a main.cf whose queue_directory, data_directory and
/// Maildir base all live under a temp folder, and a master.cf whose only listener is an smtpd on 127.0.0.1 at a free port.
/// A second instance needs no registration: <c>alternate_config_directories</c> and <c>multi_instance_directories</c>
/// only bless a directory for unprivileged users of the set-gid commands, and as root none of that applies; postmulti
/// would edit the system's main.cf, which this must never touch. A system Postfix (or the bench peer on /etc/postfix,
/// ports 2525/2528) keeps running beside it undisturbed: nothing here writes to /etc/postfix or /var/spool/postfix (postfix-script
/// only reads the default main.cf, for multi_instance_directories, and the shared postfix-files).
/// </summary>
public sealed class PostfixInstance : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<(string? Reason, string CommandDirectory, string DaemonDirectory)> Probe = new(ProbeInstallation);
    // Instances not yet stopped when the test process exits (a cancelled or killed run) are killed then, so no Postfix
    // master outlives the tests that started it. Synchronous and without child processes: the runtime is shutting down.
    private static readonly ConcurrentDictionary<PostfixInstance, byte> Running = new();

    static PostfixInstance()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAllNow();
        // SIGTERM and SIGINT (a cancelled `dotnet test`, CI's timeout) do not reliably reach ProcessExit under the test
        // platform; catch them here too. The default action (ending the process) still follows.
        Signals = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAllNow()),
                   PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillAllNow())];
    }

    private static readonly PosixSignalRegistration[] Signals;

    private static void KillAllNow()
    {
        foreach (var instance in Running.Keys)
            try { instance.KillNow(); } catch (Exception) { }
    }

    private readonly string _daemonDirectory;
    private int _masterPid;
    private int _disposed;

    private PostfixInstance(PostfixSettings settings, string root, string daemonDirectory)
    {
        Settings = settings;
        Root = root;
        _daemonDirectory = daemonDirectory;
    }

    public PostfixSettings Settings { get; }
    /// <summary>The temp folder holding everything of this instance.</summary>
    public string Root { get; }
    public string ConfigDirectory => Path.Combine(Root, "etc");
    public string QueueDirectory => Path.Combine(Root, "spool");
    public string MailboxBase => Path.Combine(Root, "vmail");
    /// <summary>Postfix's own log (maillog_file through postlogd): there is no syslog to rely on.</summary>
    public string LogFile => Path.Combine(Root, "maillog");
    public int SmtpPort { get; private set; }
    public IPEndPoint SmtpEndPoint => new(IPAddress.Loopback, SmtpPort);
    public int MasterPid => _masterPid;

    /// <summary>Null when a private instance can be started here; otherwise why not (tests skip with it).</summary>
    public static string? UnavailableReason => Probe.Value.Reason;
    public static bool IsAvailable => UnavailableReason is null;

    /// <summary>Skips the calling test (xunit v3) when Postfix cannot run here.</summary>
    public static void SkipIfUnavailable()
    {
        if (UnavailableReason is { } reason) Assert.Skip(reason);
    }

    private static (string? Reason, string CommandDirectory, string DaemonDirectory) ProbeInstallation()
    {
        if (!OperatingSystem.IsLinux()) return ("Postfix interop tests run on Linux only", "", "");
        string[] candidates = ["/usr/sbin", "/usr/local/sbin", .. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)];
        var commandDirectory = candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "postfix")) && File.Exists(Path.Combine(d, "postconf")));
        if (commandDirectory is null)
            return ("Postfix is not installed (no postfix/postconf in /usr/sbin or PATH; apt-get install postfix)", "", "");
        // The master runs as root and drops to mail_owner in its children; a private instance cannot be started otherwise.
        if (!Environment.IsPrivilegedProcess)
            return ("Postfix interop tests need root: a Postfix instance's master runs as root", commandDirectory, "");
        if (!File.ReadLines("/etc/passwd").Any(l => l.StartsWith("postfix:", StringComparison.Ordinal)))
            return ("Postfix is installed but its mail_owner user 'postfix' does not exist", commandDirectory, "");
        // -d: the compiled-in default, which works even where the system has no main.cf ("No configuration").
        var (code, output, error) = RunSync(Path.Combine(commandDirectory, "postconf"), ["-dh", "daemon_directory"]);
        var daemonDirectory = output.Trim();
        if (code != 0 || !File.Exists(Path.Combine(daemonDirectory, "master")))
            return ($"postconf -dh daemon_directory failed or names no master program: {output}{error}".Trim(), commandDirectory, "");
        return (null, commandDirectory, daemonDirectory);
    }

    /// <summary>Starts an instance and waits (bounded) until its smtpd greets on 127.0.0.1.</summary>
    public static async Task<PostfixInstance> StartAsync(PostfixSettings? settings = null, CancellationToken ct = default)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        settings ??= new PostfixSettings();
        // /tmp, not TMPDIR: the instance's UNIX sockets live under it (a socket path has at most 107 bytes), and
        // postfix check wants root-owned parents.
        var root = Path.Combine("/tmp", "mta-pf-" + Guid.NewGuid().ToString("n")[..12]);
        var instance = new PostfixInstance(settings, root, Probe.Value.DaemonDirectory);
        try
        {
            // A port taken between the probe and the master's bind is the one expected failure: try another port.
            for (var attempt = 1; ; attempt++)
            {
                instance.SmtpPort = FreeLoopbackPort();
                instance.WriteConfiguration();
                // Registered before the start: a run killed during `postfix start` must still take the master down.
                Running[instance] = 0;
                var (code, output, error) = await instance.PostfixAsync(ct, "start");
                if (code == 0)
                {
                    instance._masterPid = instance.FindMasterPid();
                    if (instance._masterPid == 0)
                        throw new InvalidOperationException($"postfix start succeeded but no master runs in {instance.QueueDirectory}\n{instance.LogTail(20)}");
                    await instance.WaitForGreetingAsync(TimeSpan.FromSeconds(20), ct);
                    return instance;
                }
                var log = instance.LogTail(20);
                await instance.StopAsync();
                if (attempt >= 3 || !log.Contains("Address already in use", StringComparison.Ordinal))
                    throw new InvalidOperationException($"postfix -c {instance.ConfigDirectory} start failed ({code}): {output}{error}\n{log}");
            }
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    private void WriteConfiguration()
    {
        // The queue directory must exist before `postfix start`: post-install creates only its sub-folders (with the
        // owners Postfix wants); root owns the parents, as postfix check expects.
        foreach (var dir in new[] { Root, ConfigDirectory, QueueDirectory, MailboxBase })
        {
            Directory.CreateDirectory(dir);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101); // 0755
        }
        // virtual(8) delivers as a static uid (never root, virtual_minimum_uid): nobody, which must be able to create the
        // per-user Maildirs under the base.
        var (uid, gid) = NobodyIds();
        if (Chown(MailboxBase, uid, gid) != 0)
            throw new InvalidOperationException($"chown {MailboxBase} to {uid}:{gid} failed: errno {Marshal.GetLastPInvokeError()}");

        var s = Settings;
        // inline: tables (Postfix 3.0+) keep the whole instance in main.cf: no postmap, no extra files.
        var mailboxMap = "inline:{ " + string.Join(", ", s.Users.Select(u => $"{u}@{s.MailboxDomain}={s.MailboxDomain}/{u}/")) + " }";
        var main = new StringBuilder();
        main.Append($"""
            # Generated by Mta.EndToEnd.Tests PostfixInstance: a private, loopback-only instance; removed after the tests.
            compatibility_level = 3.6
            queue_directory = {QueueDirectory}
            data_directory = {Path.Combine(Root, "data")}
            myhostname = {s.HostName}
            mydomain = {s.MailboxDomain}
            myorigin = $myhostname
            # Nothing is local: mail is either for the virtual Maildirs, relayed by the transport map, or deferred.
            mydestination =
            local_recipient_maps =
            local_transport = error:5.1.1 local delivery is off in this test instance
            alias_maps =
            alias_database =
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            mynetworks = 127.0.0.0/8
            smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
            smtpd_banner = $myhostname ESMTP
            # No DNS anywhere: next hops are [address]:port, and a PTR lookup of 127.0.0.1 would only slow every session.
            smtp_dns_support_level = disabled
            lmtp_dns_support_level = disabled
            smtp_host_lookup = native
            smtpd_peername_lookup = no
            smtp_tls_security_level = none
            smtpd_tls_security_level = none
            virtual_mailbox_domains = {s.MailboxDomain}
            virtual_mailbox_base = {MailboxBase}
            virtual_mailbox_maps = {mailboxMap}
            virtual_uid_maps = static:{uid}
            virtual_gid_maps = static:{gid}
            # A deferred message is retried within seconds, not Postfix's 5 minutes: tests wait a bounded time.
            queue_run_delay = 1s
            minimal_backoff_time = 1s
            maximal_backoff_time = 2s
            biff = no
            append_dot_mydomain = no
            readme_directory = no
            maillog_file_prefixes = {Root}
            maillog_file = {LogFile}

            """);
        if (s.Transport.Count > 0)
        {
            main.AppendLine($"relay_domains = {string.Join(", ", s.Transport.Keys)}");
            main.AppendLine($"transport_maps = inline:{{ {string.Join(", ", s.Transport.Select(t => $"{t.Key}=smtp:{t.Value}"))} }}");
        }
        if (s.RelayHost is not null) main.AppendLine($"relayhost = {s.RelayHost}");
        if (s.Milters.Count > 0)
        {
            main.AppendLine($"smtpd_milters = {string.Join(", ", s.Milters)}");
            // Short enough for a test to see a dead milter's default action at once.
            main.AppendLine("milter_connect_timeout = 5s");
        }
        if (s.MilterDefaultAction is not null) main.AppendLine($"milter_default_action = {s.MilterDefaultAction}");
        File.WriteAllText(Path.Combine(ConfigDirectory, "main.cf"), main.ToString());

        // The services of Debian's master.cf.proto that this setup uses, none chrooted (a chroot would need files copied
        // into the queue folder), and no port 25: the only listener is ours.
        File.WriteAllText(Path.Combine(ConfigDirectory, "master.cf"), $"""
            # Generated by Mta.EndToEnd.Tests PostfixInstance.
            127.0.0.1:{SmtpPort} inet n - n - - smtpd
            pickup     unix  n - n 60    1 pickup
            cleanup    unix  n - n -     0 cleanup
            qmgr       unix  n - n 300   1 qmgr
            rewrite    unix  - - n -     - trivial-rewrite
            bounce     unix  - - n -     0 bounce
            defer      unix  - - n -     0 bounce
            trace      unix  - - n -     0 bounce
            verify     unix  - - n -     1 verify
            flush      unix  n - n 1000? 0 flush
            proxymap   unix  - - n -     - proxymap
            proxywrite unix  - - n -     1 proxymap
            smtp       unix  - - n -     - smtp
            relay      unix  - - n -     - smtp
            showq      unix  n - n -     - showq
            error      unix  - - n -     - error
            retry      unix  - - n -     - error
            discard    unix  - - n -     - discard
            local      unix  - n n -     - local
            virtual    unix  - n n -     - virtual
            anvil      unix  - - n -     1 anvil
            scache     unix  - - n -     1 scache
            postlog    unix-dgram n - n - 1 postlogd

            """);
    }

    private async Task WaitForGreetingAsync(TimeSpan timeout, CancellationToken ct)
    {
        // The greeting must carry our host name: a 220 from some other program that grabbed the port is not our smtpd.
        var deadline = DateTime.UtcNow + timeout;
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, SmtpPort, cts.Token);
                var buffer = new byte[512];
                var n = await client.GetStream().ReadAsync(buffer, cts.Token);
                last = Encoding.ASCII.GetString(buffer, 0, n);
                if (last.StartsWith("220 " + Settings.HostName, StringComparison.Ordinal)) return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException && !ct.IsCancellationRequested)
            {
                last = e.Message;
            }
            await Task.Delay(100, ct);
        }
        throw new TimeoutException($"Postfix smtpd on 127.0.0.1:{SmtpPort} did not greet as {Settings.HostName} within {timeout}: {last}\n{LogTail(20)}");
    }

    /// <summary>The master of this instance: the process running Postfix's master program whose working directory is our
    /// queue directory (every Postfix daemon works there). Read from /proc rather than pid/master.pid, which the master
    /// holds locked: .NET's shared lock on open would fail against it.</summary>
    private int FindMasterPid()
    {
        var master = Path.Combine(_daemonDirectory, "master");
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (new FileInfo(Path.Combine(dir, "exe")).LinkTarget == master
                    && new DirectoryInfo(Path.Combine(dir, "cwd")).LinkTarget == QueueDirectory)
                    return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return 0;
    }

    /// <summary>The user's Maildir <c>new/</c> folder (virtual_mailbox_base/DOMAIN/USER/new).</summary>
    public string MaildirNew(string user) => Path.Combine(MailboxBase, Settings.MailboxDomain, user, "new");

    /// <summary>Waits (bounded, polling) until the user's Maildir holds at least <paramref name="count"/> messages.</summary>
    public async Task<string[]> WaitForMailAsync(string user, int count = 1, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var dir = MaildirNew(user);
        while (true)
        {
            var files = Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
            if (files.Length >= count) return files;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{user}@{Settings.MailboxDomain}: {files.Length} of {count} messages in {dir}\nPostfix log:\n{LogTail(30)}");
            await Task.Delay(50, ct);
        }
    }

    /// <summary><c>postqueue -p</c> of this instance ("Mail queue is empty" when it is).</summary>
    public async Task<string> QueueListingAsync(CancellationToken ct = default)
    {
        var (_, output, error) = await RunAsync(Path.Combine(Probe.Value.CommandDirectory, "postqueue"), ["-c", ConfigDirectory, "-p"], ct);
        return output + error;
    }

    /// <summary>The last lines of this instance's log, for failure messages.</summary>
    public string LogTail(int lines)
    {
        try { return File.Exists(LogFile) ? string.Join('\n', File.ReadLines(LogFile).TakeLast(lines)) : "(no Postfix log yet)"; }
        catch (IOException e) { return "(Postfix log unreadable: " + e.Message + ")"; }
    }

    /// <summary>Live (not zombie) processes of this instance: the master and its children, which share its process group.</summary>
    public IReadOnlyList<int> LiveProcesses() => _masterPid == 0 ? [] : ProcessGroupMembers(_masterPid);

    private Process? _command;

    private async Task<(int Code, string Output, string Error)> PostfixAsync(CancellationToken ct, params string[] command) =>
        await RunAsync(Path.Combine(Probe.Value.CommandDirectory, "postfix"), ["-c", ConfigDirectory, .. command], ct, p => _command = p);

    /// <summary>Stops the master (bounded), then makes sure no process of its group is left: a child still there after
    /// the wait is killed by its id. Safe to call more than once.</summary>
    public async Task StopAsync()
    {
        Running.TryRemove(this, out _);
        if (_masterPid == 0) _masterPid = FindMasterPid();
        if (File.Exists(Path.Combine(ConfigDirectory, "main.cf")) && Directory.Exists(QueueDirectory))
        {
            // postfix stop sends SIGTERM to the master and waits up to 5 s itself before it kills the group. Whatever it
            // says, the checks below decide.
            try { await PostfixAsync(CancellationToken.None, "stop"); } catch (Exception) { }
        }
        if (_masterPid == 0) return;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (ProcessGroupMembers(_masterPid).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        foreach (var pid in ProcessGroupMembers(_masterPid))
        {
            try { using var p = Process.GetProcessById(pid); p.Kill(); } catch (Exception) { }
        }
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (ProcessGroupMembers(_masterPid).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
    }

    /// <summary>The last resort, for process exit: the running postfix command (with its shell children) and every process
    /// of the master's group get SIGTERM, then SIGKILL after a short bounded wait; the folder is removed.</summary>
    private void KillNow()
    {
        Running.TryRemove(this, out _);
        try { if (_command is { HasExited: false } command) command.Kill(entireProcessTree: true); } catch (Exception) { }
        if (_masterPid == 0) _masterPid = FindMasterPid();
        if (_masterPid != 0)
        {
            foreach (var pid in ProcessGroupMembers(_masterPid)) SysKill(pid, 15);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (ProcessGroupMembers(_masterPid).Count > 0 && DateTime.UtcNow < deadline) Thread.Sleep(50);
            foreach (var pid in ProcessGroupMembers(_masterPid)) SysKill(pid, 9);
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Stopping never throws past here: a failing step must not leave the folder (or a master) behind.
        try { await StopAsync(); } catch (Exception) { }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Processes in process group <paramref name="pgid"/> that are alive and run a program of Postfix's daemon
    /// directory; the program check keeps a recycled process-group id from ever naming someone else's process.</summary>
    private List<int> ProcessGroupMembers(int pgid)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses, so parse after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] == "Z" || fields[0] == "X" || fields[2] != pgid.ToString(System.Globalization.CultureInfo.InvariantCulture)) continue;
                var exe = new FileInfo(Path.Combine(dir, "exe")).LinkTarget ?? "";
                if (exe.StartsWith(_daemonDirectory + "/", StringComparison.Ordinal)) members.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException or ArgumentOutOfRangeException) { }
        }
        return members;
    }

    /// <summary>A TCP port free on 127.0.0.1, below the kernel's ephemeral range where one exists, so that no outgoing
    /// connection's source port takes it between this check and the listener's bind. The one place a test picks a port
    /// for a child to bind later: Postfix's master binds only the port master.cf names and tells nobody what port 0 gave
    /// it, so the caller retries with another port when the bind loses a race.</summary>
    public static int FreeLoopbackPort()
    {
        var low = 32768;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            low = int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException) { }
        if (low > 12000)
        {
            for (var i = 0; i < 50; i++)
            {
                var port = Random.Shared.Next(10000, Math.Min(low, 30000));
                try
                {
                    using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                    return port;
                }
                catch (SocketException) { }
            }
        }
        using var any = new TcpListener(IPAddress.Loopback, 0);
        any.Start();
        return ((IPEndPoint)any.LocalEndpoint).Port;
    }

    private static (int Uid, int Gid) NobodyIds()
    {
        var line = File.ReadLines("/etc/passwd").FirstOrDefault(l => l.StartsWith("nobody:", StringComparison.Ordinal));
        var f = line?.Split(':');
        return f is { Length: > 3 } && int.TryParse(f[2], out var uid) && int.TryParse(f[3], out var gid) ? (uid, gid) : (65534, 65534);
    }

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int Chown(string path, int owner, int group);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    private static (int Code, string Output, string Error) RunSync(string file, IReadOnlyList<string> args) =>
        RunAsync(file, args, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Runs a Postfix command to completion, bounded by <see cref="CommandTimeout"/>; past it the command (our
    /// own child, by its id) is killed.</summary>
    private static async Task<(int Code, string Output, string Error)> RunAsync(string file, IReadOnlyList<string> args, CancellationToken ct,
        Action<Process>? started = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        started?.Invoke(process);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(ct).WaitAsync(CommandTimeout, ct);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {CommandTimeout}", e);
        }
        var output = await stdout.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var error = await stderr.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        return (process.ExitCode, output, error);
    }
}
