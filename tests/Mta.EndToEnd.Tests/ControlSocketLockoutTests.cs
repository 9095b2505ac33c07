// The real `mta run` and `mta queue`: another local user (nobody, through setpriv) holding every control connection it may
// have does not lock the operator out.
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ControlSocketLockoutTests : IAsyncDisposable
{
    private const uint Nobody = 65534;
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-ctl-" + Guid.NewGuid().ToString("n")[..10]);

    // Opens N connections, sends the request on each, prints each first reply line, then holds them until stdin closes.
    private const string Holder = """
        use strict; use IO::Socket::UNIX; use IO::Handle;
        $SIG{PIPE} = 'IGNORE'; alarm 60;
        my ($path, $n, $request) = @ARGV;
        my @s;
        for my $i (1..$n) { push @s, IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!\n"; }
        for my $s (@s) { print $s "$request\n"; $s->flush; }
        for my $s (@s) { my $l = <$s>; $l = "(closed)\n" unless defined $l; print $l; }
        STDOUT->flush;
        my $wait = <STDIN>;
        """;

    public ValueTask DisposeAsync()
    {
        MtaTestServer.DeleteQuietly(_data);
        return ValueTask.CompletedTask;
    }

    private static string? SkipReason()
    {
        if (!OperatingSystem.IsLinux()) return "peer credentials (SO_PEERCRED) are Linux";
        var uid = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2];
        if (uid != "0") return "connecting as another uid (setpriv --reuid) needs root";
        if (!File.Exists("/usr/bin/setpriv")) return "setpriv (util-linux) is not installed";
        if (!File.Exists("/usr/bin/perl")) return "perl is not installed";
        return null;
    }

    [Fact]
    public async Task Other_users_holding_every_slot_they_may_have_do_not_lock_out_mta_queue()
    {
        Assert.SkipWhen(SkipReason() is not null, SkipReason() ?? "");
        var config = MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            ["Control"] = new { MaxConnections = 6, ReservedConnections = 2, MaxConnectionsPerUser = 10 },
        });
        // nobody must reach the socket: every folder above it searchable (the socket itself is 0666).
        for (var d = new DirectoryInfo(_data); d is not null && d.FullName != "/" && !OperatingSystem.IsWindows(); d = d.Parent)
            File.SetUnixFileMode(d.FullName, File.GetUnixFileMode(d.FullName) | UnixFileMode.OtherExecute);
        await using var server = MtaProcess.Start("run", "--config", config);
        await server.WaitForListenerAsync();
        var socket = Path.Combine(_data, "control.sock");

        var psi = new ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "/usr/bin/perl", "-e", Holder, socket, "6", "{\"command\":\"queue.list\"}" })
            psi.ArgumentList.Add(a);
        using var holder = Process.Start(psi)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var replies = new List<string>();
            while (replies.Count < 6)
            {
                var line = await holder.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null) Assert.Fail("the unprivileged client ended early: " + await holder.StandardError.ReadToEndAsync(timeout.Token));
                replies.Add(line);
            }
            // Four served (queue.list itself is refused to nobody, but the connection holds its slot), two turned away.
            Assert.Equal(4, replies.Count(r => r.Contains("\"code\":\"forbidden\"", StringComparison.Ordinal)));
            Assert.Equal(2, replies.Count(r => r.Contains("\"code\":\"busy\"", StringComparison.Ordinal)));

            // The operator still gets in while nobody holds its four.
            var (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", config);
            Assert.True(code == 0, output);
            Assert.False(holder.HasExited, "the unprivileged client let go too early for the test to mean anything");
        }
        finally
        {
            holder.StandardInput.Close();
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await holder.WaitForExitAsync(exit.Token); } catch (OperationCanceledException) { holder.Kill(); }
        }
    }
}
