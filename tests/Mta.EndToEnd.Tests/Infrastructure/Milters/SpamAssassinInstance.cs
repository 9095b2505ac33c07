// A private SpamAssassin behind spamass-milter: spamd on a loopback port, spamass-milter on a UNIX socket under a temp folder.
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests.Infrastructure.Milters;

/// <summary>
/// <c>spamd -L -x</c> (local tests only, no per-user configuration) on a free loopback port, answering only 127.0.0.1,
/// and <c>spamass-milter -p SOCKET -- -d 127.0.0.1 -p PORT</c> in the foreground, its spamc pointed at that spamd.
/// By default spamass-milter tags: spam gets <c>X-Spam-Flag: YES</c>, <c>X-Spam-Status</c> and SpamAssassin's report
/// in place of the body (header changes and a body replacement); with <c>rejectScore</c> it refuses mail scoring at
/// least that much. As root spamd runs its children as <c>debian-spamd</c> (or nobody).
/// </summary>
public sealed class SpamAssassinInstance : IAsyncDisposable
{
    private static readonly string? Spamd = DaemonProcess.FindProgram("/usr/sbin/spamd", "/usr/bin/spamd", "/usr/local/bin/spamd");
    private static readonly string? Milter = DaemonProcess.FindProgram("/usr/sbin/spamass-milter", "/usr/local/sbin/spamass-milter");
    private static readonly string? Spamc = DaemonProcess.FindProgram("/usr/bin/spamc", "/usr/local/bin/spamc");

    private readonly DaemonProcess _spamd;
    private readonly DaemonProcess _milter;

    private SpamAssassinInstance(string root, DaemonProcess spamd, DaemonProcess milter)
    {
        Root = root;
        _spamd = spamd;
        _milter = milter;
    }

    public string Root { get; }
    public string Address => "unix:" + Path.Combine(Root, "spamass.sock");
    public string Output => _spamd.Output + _milter.Output;

    public static string? UnavailableReason =>
        !OperatingSystem.IsLinux() ? "SpamAssassin tests run on Linux only"
        : Milter is null ? "spamass-milter is not installed (apt-get install spamass-milter)"
        : Spamd is null ? "spamd is not installed (apt-get install spamd spamassassin)"
        : Spamc is null ? "spamc is not installed (apt-get install spamc)"
        : null;

    public static void SkipIfUnavailable()
    {
        if (UnavailableReason is { } reason) Assert.Skip(reason);
    }

    /// <param name="rejectScore">spamass-milter's <c>-r</c>: refuse mail scoring at least this; null tags only.</param>
    public static async Task<SpamAssassinInstance> StartAsync(int? rejectScore = null, CancellationToken ct = default)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        var root = DaemonProcess.NewTempFolder("spamass");
        DaemonProcess? spamd = null, milter = null;
        try
        {
            int port;
            for (var attempt = 1; ; attempt++)
            {
                port = PostfixInstance.FreeLoopbackPort();
                var user = Environment.IsPrivilegedProcess ? DaemonProcess.UserExists("debian-spamd") ? "debian-spamd" : "nobody" : null;
                spamd = DaemonProcess.Start("spamd", Spamd!,
                [
                    "-L", "-x", "--min-children=1", "--max-children=2", "-i", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "-A", "127.0.0.1", "--pidfile=" + Path.Combine(root, "spamd.pid"), "-s", "stderr",
                    .. user is null ? Array.Empty<string>() : ["-u", user],
                ]);
                try
                {
                    await spamd.WaitForSocketAsync($"inet:127.0.0.1:{port}", TimeSpan.FromSeconds(60), ct);
                    break;
                }
                catch (Exception) when (attempt < 3 && Regex.IsMatch(spamd.Output, "Address already in use|could not create"))
                {
                    await spamd.DisposeAsync();
                }
            }
            string[] reject = rejectScore is { } score ? ["-r", score.ToString(System.Globalization.CultureInfo.InvariantCulture)] : [];
            milter = DaemonProcess.Start("spamass-milter", Milter!,
                ["-p", Path.Combine(root, "spamass.sock"), "-P", Path.Combine(root, "spamass-milter.pid"), .. reject,
                 "--", "-d", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            var instance = new SpamAssassinInstance(root, spamd, milter);
            await milter.WaitForSocketAsync(instance.Address, TimeSpan.FromSeconds(20), ct);
            return instance;
        }
        catch
        {
            if (milter is not null) await milter.DisposeAsync();
            if (spamd is not null) await spamd.DisposeAsync();
            DaemonProcess.DeleteQuietly(root);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _milter.DisposeAsync();
        await _spamd.DisposeAsync();
        DaemonProcess.DeleteQuietly(Root);
    }
}
