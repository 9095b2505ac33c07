// Runs one real daemon (a milter, redis-server, haproxy) as a child process in the foreground, output captured, and kills it.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A daemon started by a test (a content filter, redis-server, haproxy): never daemonized (so its process id is the one to kill), its standard output and
/// error kept for the failure message, its readiness decided by a connection to the socket it was told to listen on.
/// The process (and its children: rspamd forks workers, spamd forks children) is killed in <see cref="DisposeAsync"/>,
/// and, for a run that is cancelled or killed, when the test process exits.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<DaemonProcess, byte> Running = new();
    private static readonly PosixSignalRegistration[] Signals;

    static DaemonProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAllNow();
        // As PostfixInstance does: SIGTERM and SIGINT of a cancelled run do not reliably reach ProcessExit.
        Signals = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAllNow()),
                   PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillAllNow())];
    }

    private static void KillAllNow()
    {
        foreach (var filter in Running.Keys)
            try { filter.KillNow(); } catch (Exception) { }
    }

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private int _disposed;

    private DaemonProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>Everything the filter printed so far (its log goes to the console in these set-ups).</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="args"/>; the caller then waits for its socket.</summary>
    public static DaemonProcess Start(string name, string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + fileName);
        var filter = new DaemonProcess(name, process);
        Running[filter] = 0;
        return filter;
    }

    /// <summary>Waits (bounded) until <paramref name="address"/> (<c>unix:PATH</c> or <c>inet:HOST:PORT</c>, Postfix's
    /// forms) accepts a connection; throws with the filter's output when it exits first or the time runs out.</summary>
    public async Task WaitForSocketAsync(string address, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}) before listening on {address}:\n{Output}");
            }
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(2));
                using var socket = await ConnectAsync(address, cts.Token);
                return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                last = e;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Name} did not listen on {address} within {timeout.TotalSeconds:0} s ({last?.Message}):\n{Output}");
            await Task.Delay(50, ct);
        }
    }

    /// <summary>A connected socket to a Postfix-style milter address.</summary>
    public static async Task<Socket> ConnectAsync(string address, CancellationToken ct)
    {
        EndPoint endPoint;
        Socket socket;
        if (address.StartsWith("unix:", StringComparison.Ordinal))
        {
            endPoint = new UnixDomainSocketEndPoint(address["unix:".Length..]);
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }
        else if (address.StartsWith("inet:", StringComparison.Ordinal))
        {
            var hostPort = address["inet:".Length..];
            var colon = hostPort.LastIndexOf(':');
            endPoint = new IPEndPoint(IPAddress.Parse(hostPort[..colon]), int.Parse(hostPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        }
        else throw new ArgumentException("expected unix:PATH or inet:HOST:PORT, got " + address, nameof(address));
        try
        {
            await socket.ConnectAsync(endPoint, ct);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops the filter: SIGTERM to it and its children, SIGKILL after a short bounded wait.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        var children = Descendants(_process.Id);
        SysKill(_process.Id, 15);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            // Not gone on SIGTERM in time (OpenDKIM can linger over its open sessions): SIGKILL, and wait for the
            // kill to take effect, since Kill only sends the signal and a caller goes on to test HasExited.
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            using var killed = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(killed.Token); } catch (OperationCanceledException) { }
        }
        // Workers that outlived their master (they normally leave with it) are the filter's own: killed by their ids.
        foreach (var pid in children)
            if (IsAlive(pid)) SysKill(pid, 9);
    }

    /// <summary>Kills the process at once (SIGKILL, with its children), as a crash would, and waits (bounded) until it
    /// is gone.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(10_000);
    }

    /// <summary>Sends <paramref name="signal"/> (e.g. 19 SIGSTOP, 18 SIGCONT on Linux) to the process alone.</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited) SysKill(_process.Id, signal);
    }

    private void KillNow()
    {
        Running.TryRemove(this, out _);
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (Exception) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await StopAsync(); } catch (Exception) { }
        Running.TryRemove(this, out _);
        _process.Dispose();
    }

    /// <summary>The process ids below <paramref name="pid"/> (children, grandchildren), from /proc.</summary>
    private static List<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var child)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[child] = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException) { }
        }
        var found = new List<int>();
        var frontier = new Queue<int>([pid]);
        while (frontier.TryDequeue(out var parent))
            foreach (var (child, ppid) in parents)
                if (ppid == parent) { found.Add(child); frontier.Enqueue(child); }
        return found;
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException) { return false; }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    /// <summary>Runs a tool to completion, bounded by <paramref name="timeout"/> (30 s by default; past it the tool, our own
    /// child, is killed by its id), and returns its exit code and everything it printed.</summary>
    public static async Task<(int Code, string Output)> RunToEndAsync(string file, IReadOnlyList<string> args, CancellationToken ct, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(limit);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {limit.TotalSeconds:0} s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The first of <paramref name="candidates"/> that exists, or null (the test then skips).</summary>
    public static string? FindProgram(params string[] candidates) => candidates.FirstOrDefault(File.Exists);

    /// <summary>A private folder under /tmp, short enough for UNIX socket paths (at most 107 bytes).</summary>
    public static string NewTempFolder(string prefix)
    {
        var root = Path.Combine("/tmp", $"mta-{prefix}-" + Guid.NewGuid().ToString("n")[..10]);
        Directory.CreateDirectory(root);
        // 0755: filters that drop privileges must reach it.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        return root;
    }

    public static void DeleteQuietly(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int SysChown(string path, int owner, int group);

    /// <summary>Gives <paramref name="path"/> to a system user (a filter that drops root must write its own folders).</summary>
    public static void ChownTo(string path, string user)
    {
        var fields = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 3 && f[0] == user)
            ?? throw new InvalidOperationException($"user {user} does not exist");
        if (SysChown(path, int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture)) != 0)
            throw new InvalidOperationException($"chown {path} to {user} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>True when <paramref name="user"/> exists in /etc/passwd.</summary>
    public static bool UserExists(string user) =>
        File.ReadLines("/etc/passwd").Any(l => l.StartsWith(user + ":", StringComparison.Ordinal));
}
