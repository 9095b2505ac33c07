// Runs the real `mta` executable as a child process, for crash, shutdown and command-line tests.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests.Infrastructure;

public sealed class MtaProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private MtaProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>The mta.dll built beside the tests (the test project references src/Mta).</summary>
    public static string MtaDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "mta.dll");
            if (!File.Exists(path) || !File.Exists(Path.Combine(AppContext.BaseDirectory, "mta.runtimeconfig.json")))
                throw new FileNotFoundException("mta.dll and its runtimeconfig must be built beside the tests", path);
            return path;
        }
    }

    public static MtaProcess Start(params string[] args) => StartWith(null, args);

    /// <summary>Starts `mta ARGS` with these environment variables set (a null value removes one).</summary>
    public static MtaProcess StartWith(IReadOnlyDictionary<string, string?>? environment, params string[] args) =>
        StartCommand("dotnet", [MtaDll, .. args], environment);

    /// <summary>Starts any command (e.g. a shell that sets up the environment and then execs mta) the way
    /// <see cref="Start"/> starts mta: output captured, systemd's variables removed unless given.</summary>
    public static MtaProcess StartCommand(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // A test run inside a systemd unit (a CI service) must not make every child server notify that unit or
        // switch its log format to the journal's.
        psi.Environment.Remove("NOTIFY_SOCKET");
        psi.Environment.Remove("JOURNAL_STREAM");
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) psi.Environment.Remove(key);
            else psi.Environment[key] = value;
        }
        return new MtaProcess(Process.Start(psi)!);
    }

    /// <summary>Runs `mta ARGS` to completion (bounded) and returns its exit code and all it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunToEndAsync(params string[] args)
    {
        await using var p = Start(args);
        await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, p.Output);
    }

    /// <summary>Runs `mta ARGS` with <paramref name="input"/> on its standard input (then closed), to completion (bounded).</summary>
    public static async Task<(int ExitCode, string Output)> RunWithInputAsync(string input, params string[] args)
    {
        await using var p = Start(args);
        await p.WriteInputAsync(input);
        await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, p.Output);
    }

    /// <summary>Writes to the process's standard input and closes it, so a reader sees end of input.</summary>
    public async Task WriteInputAsync(string input)
    {
        await _process.StandardInput.WriteAsync(input);
        await _process.StandardInput.FlushAsync();
        _process.StandardInput.Close();
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // drains the redirected output
    }

    /// <summary>SIGKILL: the process gets no chance to flush or clean up.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM, as systemctl stop and kill(1) send.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]);
        kill.WaitForExit();
    }

    /// <summary>SIGINT, as Ctrl-C in a terminal.</summary>
    public void Interrupt()
    {
        using var kill = Process.Start("kill", ["-INT", _process.Id.ToString()]);
        kill.WaitForExit();
    }

    /// <summary>Waits (bounded) for the child's log line that names the port a listener bound, and returns it. Listeners in
    /// tests ask for port 0 and the child binds whatever the system hands out: a number picked by the test and bound
    /// later by the child could be taken by another test in between. The line is written after listen(), so the port
    /// accepts connections when this returns. Needs <see cref="ListenerLogging"/> in the config.</summary>
    public async Task<int> WaitForListenerAsync(string name = "smtp", TimeSpan? timeout = null)
    {
        var pattern = new Regex(@"\[250\] listener " + Regex.Escape(name) + @" on [^\s]*:(\d+)\s*$", RegexOptions.Multiline);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var match = pattern.Match(Output);
            if (match.Success) return int.Parse(match.Groups[1].Value);
            // Exited: one last read, the line may have come with the final output.
            if (_process.HasExited)
            {
                _process.WaitForExit();
                match = pattern.Match(Output);
                if (match.Success) return int.Parse(match.Groups[1].Value);
                throw new InvalidOperationException($"mta exited before listener {name} was bound:\n" + Output);
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"listener {name} not bound in time:\n" + Output);
            await Task.Delay(50);
        }
    }

    /// <summary>Logging for a test server: warnings and worse, plus the listener's "listener NAME on ADDRESS:PORT" line
    /// that <see cref="WaitForListenerAsync"/> reads.</summary>
    public static readonly object ListenerLogging = new
    {
        LogLevel = new Dictionary<string, string> { ["Default"] = "Warning", ["Mta.Engine.Receiver.SmtpServer"] = "Information" },
    };

    /// <summary>Tests never ask the machine's resolvers (they are off loopback): a server process that a test did not give
    /// a stub DNS server of its own asks a closed loopback port, and fails at once.</summary>
    public static readonly object NoDns = new { Servers = new[] { "127.0.0.1:9" }, Timeout = "00:00:00.200", Retries = 0 };

    /// <summary>No SPF/DKIM/DMARC/ARC checks of incoming mail (they would only record temperror without DNS); the
    /// in-process tests check them against a stub DNS server.</summary>
    public static readonly object NoVerification = new { Verify = new { Enabled = false } };

    /// <summary>Writes a config file for a loopback server with its data under <paramref name="dataDirectory"/>.</summary>
    /// <param name="port">0 (the default): the child binds any free port; learn it with <see cref="WaitForListenerAsync"/>.</param>
    /// <param name="extra">More top-level members (e.g. <c>["Terminal"] = new { Enabled = true }</c>); they replace
    /// members of the same name.</param>
    public static string WriteConfig(string dataDirectory, int port = 0, object? extraLimits = null, IReadOnlyDictionary<string, object?>? extra = null)
    {
        Directory.CreateDirectory(dataDirectory);
        var config = new Dictionary<string, object?>
        {
            ["HostName"] = "mta.test",
            ["DataDirectory"] = dataDirectory,
            ["Listeners"] = new[] { new { Name = "smtp", Address = "127.0.0.1", Port = port } },
            ["LocalDomains"] = new[] { "example.test", "localhost" },
            // Most tests send to made-up local parts; a test about recipients passes its own "Mailboxes".
            ["Mailboxes"] = new { AcceptAnyLocalPart = true, SystemUsers = false },
            ["Limits"] = extraLimits ?? new { MaxConnectionsPerIp = 200 },
            ["ShutdownTimeout"] = "00:00:10",
            ["Logging"] = ListenerLogging,
            ["Dns"] = NoDns,
            ["Authentication"] = NoVerification,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, object?>()) config[key] = value;
        var path = Path.Combine(dataDirectory, "mta.config.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
