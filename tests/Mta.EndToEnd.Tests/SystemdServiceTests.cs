// `mta run` as a Type=notify service: READY=1 only once the listeners accept connections, STOPPING=1 at SIGTERM.
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class SystemdServiceTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-sd-" + Guid.NewGuid().ToString("n")[..12]);

    [Fact]
    public async Task Ready_is_sent_once_the_listener_is_bound_and_stopping_at_sigterm()
    {
        var config = MtaProcess.WriteConfig(_root);
        var notifyPath = Path.Combine(_root, "notify");
        // systemd's side of sd_notify(3): a datagram socket the service's NOTIFY_SOCKET names.
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(notifyPath));

        await using var server = MtaProcess.StartWith(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notifyPath }, "run", "--config", config);
        var ready = await ReceiveAsync(notify, server);
        Assert.Equal("READY=1", ready);

        // At the moment READY=1 arrives the process already has a listening TCP socket: the bind came first.
        var ports = ListeningPorts(server.Id);
        Assert.True(ports.Count == 1, $"listening ports at READY: [{string.Join(", ", ports)}]\n{server.Output}");
        await using (var client = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, ports[0])))
            Assert.Equal(250, (await client.CommandAsync("EHLO ready.test")).Code);

        server.Terminate();
        Assert.Equal("STOPPING=1", await ReceiveAsync(notify, server));
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}\n{server.Output}");
    }

    [Fact]
    public async Task Without_a_notify_socket_the_server_runs_and_stops_as_before()
    {
        var config = MtaProcess.WriteConfig(_root);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        await using (var client = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
            Assert.Equal(250, (await client.CommandAsync("EHLO plain.test")).Code);
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}\n{server.Output}");
    }

    private static async Task<string> ReceiveAsync(Socket notify, MtaProcess server)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            var n = await notify.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return Encoding.UTF8.GetString(buffer, 0, n).Trim();
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no notification from mta (exited: {server.HasExited})\n{server.Output}");
        }
    }

    /// <summary>The TCP ports a process listens on: its socket inodes (/proc/PID/fd) matched against the kernel's
    /// table of sockets in LISTEN state (/proc/net/tcp, tcp6; state 0A).</summary>
    private static List<int> ListeningPorts(int pid)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)) inodes.Add(target[8..^1]);
        }
        var ports = new List<int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10 || fields[3] != "0A" || !inodes.Contains(fields[9])) continue;
                ports.Add(Convert.ToInt32(fields[1][(fields[1].LastIndexOf(':') + 1)..], 16));
            }
        }
        return ports;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
