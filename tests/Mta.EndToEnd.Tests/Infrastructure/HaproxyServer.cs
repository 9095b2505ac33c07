// A private HAProxy for one test: Debian's binary in the foreground, TCP mode, its config written by the test.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Runs <c>haproxy -db</c> (foreground, no daemon) on a config the test writes: one frontend per <see cref="Frontend"/>
/// on a free loopback port, each with its own backend of SMTP servers. Killed in Dispose.
/// </summary>
public sealed class HaproxyServer : IAsyncDisposable
{
    private readonly DaemonProcess _process;
    private readonly string _directory;

    private HaproxyServer(DaemonProcess process, string directory, IReadOnlyDictionary<string, int> ports)
    {
        _process = process;
        _directory = directory;
        Ports = ports;
    }

    /// <summary>The haproxy binary, or null when it is not installed.</summary>
    public static string? BinaryPath { get; } = File.Exists("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : FindOnPath("haproxy");

    /// <summary>Skips the calling test when haproxy is not installed.</summary>
    public static void SkipUnlessInstalled() =>
        Assert.SkipWhen(BinaryPath is null, "haproxy is not installed (Debian package haproxy)");

    /// <summary>Each frontend's port, by name.</summary>
    public IReadOnlyDictionary<string, int> Ports { get; }

    /// <summary>What haproxy printed so far (its log goes to stderr), for failure messages.</summary>
    public string Output => _process.Output;

    /// <summary>The endpoint of frontend <paramref name="name"/>.</summary>
    public IPEndPoint EndPoint(string name) => new(IPAddress.Loopback, Ports[name]);

    /// <summary>One frontend and its backend: <paramref name="Servers"/> are <c>(name, port)</c> on 127.0.0.1, and
    /// <paramref name="ServerOptions"/> is written after each (e.g. <c>send-proxy-v2 check inter 200ms</c>).</summary>
    public sealed record Frontend(string Name, IReadOnlyList<(string Name, int Port)> Servers, string ServerOptions, string? BackendOptions = null);

    /// <summary>Writes the config, starts haproxy and returns once every frontend accepts connections.</summary>
    public static async Task<HaproxyServer> StartAsync(params Frontend[] frontends)
    {
        if (BinaryPath is null) throw new InvalidOperationException("haproxy is not installed");
        var directory = Directory.CreateTempSubdirectory("mta-haproxy-").FullName;
        var ports = frontends.ToDictionary(f => f.Name, _ => FreePort());
        var config = new StringBuilder();
        // Logs to stderr (captured) in the foreground; no chroot, no user switch, nothing outside the temp folder.
        config.Append("""
            global
                log stderr format short local0 info
                maxconn 2000
            defaults
                mode tcp
                log global
                option tcplog
                option redispatch
                retries 3
                timeout connect 1s
                timeout client 60s
                timeout server 60s
                timeout check 1s

            """);
        foreach (var f in frontends)
        {
            config.Append($"frontend {f.Name}\n    bind 127.0.0.1:{ports[f.Name]}\n    default_backend {f.Name}_servers\n");
            config.Append($"backend {f.Name}_servers\n    balance roundrobin\n");
            if (f.BackendOptions is { } backendOptions) config.Append("    ").Append(backendOptions).Append('\n');
            foreach (var (name, port) in f.Servers) config.Append($"    server {name} 127.0.0.1:{port} {f.ServerOptions}\n");
        }
        var path = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(path, config.ToString());

        var server = new HaproxyServer(DaemonProcess.Start("haproxy", BinaryPath, ["-db", "-f", path]), directory, ports);
        try
        {
            foreach (var f in frontends)
                await server._process.WaitForSocketAsync($"inet:127.0.0.1:{ports[f.Name]}", TimeSpan.FromSeconds(15));
            return server;
        }
        catch (Exception e)
        {
            await server.DisposeAsync();
            throw new InvalidOperationException("haproxy did not start with this config:\n" + config, e);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A loopback port free now, for a server whose port the haproxy config must name before it starts.</summary>
    public static int FreeLoopbackPort() => FreePort();

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Where(d => d.Length > 0).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
