// A private redis-server for one test: Debian's binary on a free loopback port, no persistence, killed in Dispose.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Runs a private <c>redis-server</c> on 127.0.0.1 for one test, with nothing saved to disk. <see cref="Kill"/> stops
/// it abruptly (an outage) and <see cref="RestartAsync"/> brings it back, empty, on the same port, as a crashed and
/// restarted server would come back. Call <see cref="StartAsync"/> after <see cref="SkipUnlessInstalled"/>.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(15);
    private readonly string _directory;
    private DaemonProcess? _process;

    private RedisServer(int port, string directory)
    {
        Port = port;
        _directory = directory;
    }

    /// <summary>The redis-server binary: Debian's, else the first on PATH; null when none is installed.</summary>
    public static string? BinaryPath { get; } = FindBinary();

    /// <summary>The loopback port it listens on (kept across <see cref="RestartAsync"/>).</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis configuration string for it (<c>State:Redis:Configuration</c>).</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Whether the server process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What the server printed so far, for failure messages.</summary>
    public string Output => _process?.Output ?? "";

    /// <summary>Skips the calling test when redis-server is not installed.</summary>
    public static void SkipUnlessInstalled() =>
        Assert.SkipWhen(BinaryPath is null, "redis-server is not installed (Debian package redis-server)");

    /// <summary>Starts a server on a free loopback port and returns once it answers PING.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        if (BinaryPath is null) throw new InvalidOperationException("redis-server is not installed");
        var directory = Directory.CreateTempSubdirectory("mta-redis-").FullName;
        // A port picked here could be taken before redis binds it; another pick fixes that.
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(FreePort(), directory);
            try
            {
                await server.RunAsync();
                return server;
            }
            catch (Exception) when (attempt < 3)
            {
                await server.StopAsync();
            }
        }
    }

    /// <summary>Kills the server at once (SIGKILL): clients see their connections drop, as in a crash.</summary>
    public void Kill() => _process?.Kill();

    /// <summary>Freezes the server (SIGSTOP): connections stay open and nothing is answered, as a server that hangs.</summary>
    public void Pause() => Running.Signal(SigStop);

    /// <summary>Lets a paused server run again (SIGCONT); it answers what it was sent meanwhile.</summary>
    public void Resume() => Running.Signal(SigCont);

    // Linux's numbers (signal(7)), for DaemonProcess.Signal.
    private const int SigStop = 19, SigCont = 18;

    private DaemonProcess Running => _process ?? throw new InvalidOperationException("redis-server is not running");

    /// <summary>Starts the server again, empty, on the same port; returns once it answers PING.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        // The old socket may linger for a moment; redis-server sets SO_REUSEADDR, so only a bind race is retried.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await RunAsync();
                return;
            }
            catch (Exception) when (attempt < 5)
            {
                Kill();
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Sends one command on a fresh connection and returns its raw reply, e.g. <c>+PONG</c>, <c>:3</c> or
    /// <c>$1\r\n5</c>; for checks that should not go through the code under test. Not for commands that answer an array.</summary>
    public async Task<string> CommandAsync(params string[] arguments)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
        var stream = client.GetStream();
        var request = new StringBuilder().Append('*').Append(arguments.Length).Append("\r\n");
        foreach (var argument in arguments)
            request.Append('$').Append(Encoding.UTF8.GetByteCount(argument)).Append("\r\n").Append(argument).Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cts.Token);
        var buffer = new byte[64 * 1024];
        var reply = new StringBuilder();
        while (!IsComplete(reply.ToString()))
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            if (read == 0) break;
            reply.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        return reply.ToString().TrimEnd('\r', '\n');
    }

    private static bool IsComplete(string reply)
    {
        if (!reply.EndsWith("\r\n", StringComparison.Ordinal)) return false;
        if (reply[0] != '$') return true;
        var length = int.Parse(reply.AsSpan(1, reply.IndexOf('\r') - 1));
        return length < 0 || reply.Length >= reply.IndexOf('\n') + 1 + length + 2;
    }

    private async Task RunAsync()
    {
        string[] arguments = ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", _directory, "--daemonize", "no", "--protected-mode", "yes", "--logfile", ""];
        var process = DaemonProcess.Start("redis-server", BinaryPath!, arguments);
        _process = process;

        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"redis-server exited:\n{Output}");
            try
            {
                if (await CommandAsync("PING") == "+PONG") return;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not answer PING on port {Port}:\n{Output}");
            await Task.Delay(50);
        }
    }

    private async Task StopAsync()
    {
        // A paused process would not die of SIGKILL any later, but a stopped one must not linger stopped either.
        if (IsRunning) Resume();
        Kill();
        if (_process is { } process) await process.DisposeAsync();
        _process = null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindBinary()
    {
        if (File.Exists("/usr/bin/redis-server")) return "/usr/bin/redis-server";
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(directory, "redis-server");
            if (directory.Length > 0 && File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}
