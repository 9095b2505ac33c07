// A control-socket client running as another uid (nobody, via setpriv and perl), to test what the socket allows other users.
using System.Diagnostics;

namespace Mta.Engine.Tests.Control;

internal static class UnprivilegedClient
{
    public const uint NobodyUid = 65534;

    // Connects N sockets first (so they are served at once), then on each sends the request and prints up to L lines,
    // each as "INDEX LINE". A refused connection's line is printed all the same; SIGPIPE on it is ignored.
    private const string Script = """
        use strict; use IO::Socket::UNIX; use IO::Handle;
        $SIG{PIPE} = 'IGNORE'; alarm 20;
        my ($path, $n, $request, $lines) = @ARGV;
        my @s;
        for my $i (1..$n) { push @s, IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!\n"; }
        select(undef, undef, undef, 0.3);
        for my $i (0..$#s) { my $s = $s[$i]; print $s "$request\n"; $s->flush; }
        for my $i (0..$#s) { my $s = $s[$i]; for (1..$lines) { my $l = <$s>; last unless defined $l; print "$i $l"; } }
        STDOUT->flush;
        """;

    // As Script, then keeps every connection open until its standard input closes (the test lets go).
    private const string HoldScript = """
        use strict; use IO::Socket::UNIX; use IO::Handle;
        $SIG{PIPE} = 'IGNORE'; alarm 60;
        my ($path, $n, $request) = @ARGV;
        my @s;
        for my $i (1..$n) { push @s, IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!\n"; }
        for my $i (0..$#s) { my $s = $s[$i]; print $s "$request\n"; $s->flush; }
        for my $i (0..$#s) { my $s = $s[$i]; my $l = <$s>; $l = "(closed)\n" unless defined $l; print "$i $l"; }
        STDOUT->flush;
        my $wait = <STDIN>;
        """;

    /// <summary>Why the tests cannot run here, or null: they need Linux, root (to switch uid), setpriv and perl.</summary>
    public static string? SkipReason()
    {
        if (!OperatingSystem.IsLinux()) return "peer credentials are Linux";
        var uid = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2];
        if (uid != "0") return "switching to another uid needs root";
        if (!File.Exists("/usr/bin/setpriv")) return "setpriv is not installed";
        if (!File.Exists("/usr/bin/perl")) return "perl is not installed";
        return null;
    }

    /// <summary>Runs the client as nobody; returns the lines it printed per connection (index → lines).</summary>
    public static async Task<Dictionary<int, List<string>>> RunAsync(string socketPath, string requestLine, int connections = 1, int linesPerConnection = 1)
    {
        var psi = new ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { $"--reuid={NobodyUid}", $"--regid={NobodyUid}", "--clear-groups", "/usr/bin/perl", "-e", Script,
                     socketPath, connections.ToString(), requestLine, linesPerConnection.ToString() })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        var error = await stderr;
        Assert.True(process.ExitCode == 0, $"the unprivileged client failed ({process.ExitCode}): {error}");
        var result = new Dictionary<int, List<string>>();
        foreach (var line in (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var space = line.IndexOf(' ');
            var index = int.Parse(line[..space]);
            if (!result.TryGetValue(index, out var list)) result[index] = list = [];
            list.Add(line[(space + 1)..]);
        }
        return result;
    }

    /// <summary>
    /// Opens <paramref name="connections"/> connections as nobody, sends <paramref name="requestLine"/> on each and reads
    /// one reply line each; the connections stay open until the returned holder is disposed.
    /// </summary>
    public static async Task<Holder> HoldAsync(string socketPath, string requestLine, int connections)
    {
        var psi = new ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { $"--reuid={NobodyUid}", $"--regid={NobodyUid}", "--clear-groups", "/usr/bin/perl", "-e", HoldScript,
                     socketPath, connections.ToString(), requestLine })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var replies = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (replies.Count < connections)
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                var error = await process.StandardError.ReadToEndAsync(timeout.Token);
                process.Dispose();
                Assert.Fail($"the unprivileged client ended after {replies.Count} of {connections} replies: {error}");
            }
            replies.Add(line[(line.IndexOf(' ') + 1)..]);
        }
        return new Holder(process, replies);
    }

    /// <summary>Connections held open by a process running as nobody; disposing closes them.</summary>
    public sealed class Holder(Process process, List<string> replies) : IAsyncDisposable
    {
        /// <summary>The first reply line of each connection, in connection order.</summary>
        public IReadOnlyList<string> Replies => replies;

        public async ValueTask DisposeAsync()
        {
            try
            {
                process.StandardInput.Close();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
            }
            finally
            {
                process.Dispose();
            }
        }
    }

    /// <summary>A test directory nobody can reach: the temporary folder's tree is world-searchable, the socket 0666.</summary>
    public static void MakeReachable(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        for (var d = new DirectoryInfo(directory); d is not null && d.FullName != "/"; d = d.Parent)
        {
            var mode = File.GetUnixFileMode(d.FullName);
            if ((mode & UnixFileMode.OtherExecute) == 0) File.SetUnixFileMode(d.FullName, mode | UnixFileMode.OtherExecute);
        }
    }
}
