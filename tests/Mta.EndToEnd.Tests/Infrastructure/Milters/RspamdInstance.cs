// A private rspamd in milter mode: its proxy worker scanning by itself (self_scan), on a loopback port, config under a temp folder.
using System.Net;
using System.Text.RegularExpressions;

namespace Mta.EndToEnd.Tests.Infrastructure.Milters;

/// <summary>
/// <c>rspamd -f -c CONF --var LOCAL_CONFDIR=... --var DBDIR=... --var RUNDIR=...</c>: Debian's stock rules
/// (<c>$CONFDIR/common.conf</c>, i.e. /etc/rspamd) with only the <c>rspamd_proxy</c> worker, in milter mode with
/// <c>self_scan</c> (no normal worker, no controller, no Redis). Everything it writes (database folder, pid file) is in
/// the temp folder; its log goes to the console and is kept for failure messages. As root it drops to <c>_rspamd</c>
/// (<c>-u/-g</c>: rspamd refuses to run workers as root), so the folders it writes are given to that user.
/// The machine's resolvers are never asked: DNS goes to the test's stub server, or to a closed loopback port.
/// The config written here is the one docs/milter.md shows, with the temp folder's paths.
/// </summary>
public sealed class RspamdInstance : IAsyncDisposable
{
    /// <summary>The test string that makes rspamd reject a message (its GTUBE symbol sets the reject action).</summary>
    public const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    /// <summary>rspamd's reply to a GTUBE message (the GTUBE symbol's own reply, not <see cref="RejectMessage"/>).</summary>
    public const string GtubeReply = "554 5.7.1 Gtube pattern";
    /// <summary>The text of rspamd's reject reply for mail that scores over the reject threshold, as its config below sets it.</summary>
    public const string RejectMessage = "Spam message rejected by rspamd";

    private const string RspamdUser = "_rspamd";
    private static readonly string? Program = DaemonProcess.FindProgram("/usr/bin/rspamd", "/usr/local/bin/rspamd");
    private static readonly string ConfigDirectory = "/etc/rspamd";

    private readonly DaemonProcess _process;

    private RspamdInstance(string root, int port, DaemonProcess process)
    {
        Root = root;
        Port = port;
        _process = process;
    }

    public string Root { get; }
    public int Port { get; }
    /// <summary>Where it listens, in Postfix's form (what Mta's <c>Milters:Definitions:NAME:Address</c> takes).</summary>
    public string Address => $"inet:127.0.0.1:{Port}";
    public string Output => _process.Output;

    public static string? UnavailableReason =>
        !OperatingSystem.IsLinux() ? "rspamd tests run on Linux only"
        : Program is null ? "rspamd is not installed (apt-get install rspamd)"
        : !File.Exists(Path.Combine(ConfigDirectory, "common.conf")) ? $"rspamd's stock rules are missing ({ConfigDirectory}/common.conf)"
        : Environment.IsPrivilegedProcess && !DaemonProcess.UserExists(RspamdUser) ? $"running as root, and rspamd's user {RspamdUser} does not exist"
        : null;

    public static void SkipIfUnavailable()
    {
        if (UnavailableReason is { } reason) Assert.Skip(reason);
    }

    /// <summary>Starts an instance and waits (bounded: rspamd loads its rules for several seconds) until it listens.</summary>
    /// <param name="nameserver">The DNS server rspamd asks (a test's stub); null: a closed loopback port, every query
    /// failing at once.</param>
    public static async Task<RspamdInstance> StartAsync(IPEndPoint? nameserver = null, CancellationToken ct = default)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        var root = DaemonProcess.NewTempFolder("rspamd");
        try
        {
            // rspamd binds the port its config names; a port taken in between shows as a bind error: try another.
            for (var attempt = 1; ; attempt++)
            {
                var port = PostfixInstance.FreeLoopbackPort();
                WriteConfiguration(root, port, nameserver?.ToString() ?? "127.0.0.1:1");
                string[] user = Environment.IsPrivilegedProcess ? ["-u", RspamdUser, "-g", RspamdUser] : [];
                var process = DaemonProcess.Start("rspamd", Program!,
                [
                    "-f", .. user, "-c", Path.Combine(root, "rspamd.conf"),
                    "--var", "LOCAL_CONFDIR=" + Path.Combine(root, "local"),
                    "--var", "DBDIR=" + Path.Combine(root, "db"),
                    "--var", "RUNDIR=" + Path.Combine(root, "run"),
                    "--var", "LOGDIR=" + Path.Combine(root, "run"),
                ]);
                try
                {
                    var instance = new RspamdInstance(root, port, process);
                    await process.WaitForSocketAsync(instance.Address, TimeSpan.FromSeconds(60), ct);
                    return instance;
                }
                catch (Exception) when (attempt < 3 && Regex.IsMatch(process.Output, "cannot (bind|listen)|Address already in use"))
                {
                    await process.DisposeAsync();
                }
                catch
                {
                    await process.DisposeAsync();
                    throw;
                }
            }
        }
        catch
        {
            DaemonProcess.DeleteQuietly(root);
            throw;
        }
    }

    private static void WriteConfiguration(string root, int port, string nameserver)
    {
        foreach (var dir in new[] { "local/local.d", "db", "run" }) Directory.CreateDirectory(Path.Combine(root, dir));
        if (Environment.IsPrivilegedProcess)
        {
            DaemonProcess.ChownTo(Path.Combine(root, "db"), RspamdUser);
            DaemonProcess.ChownTo(Path.Combine(root, "run"), RspamdUser);
        }
        File.WriteAllText(Path.Combine(root, "rspamd.conf"), MainConfig($"127.0.0.1:{port}"));
        File.WriteAllText(Path.Combine(root, "local/local.d/options.inc"), Options(nameserver));
        foreach (var (name, text) in LocalConfig)
            File.WriteAllText(Path.Combine(root, "local/local.d", name), text);
    }

    /// <summary>The top-level rspamd.conf of this instance: the stock rules, the proxy worker alone, in milter mode.</summary>
    public static string MainConfig(string bindSocket) => $$"""
        # Written by Mta.EndToEnd.Tests RspamdInstance: a private instance, removed after the tests.
        .include "$CONFDIR/common.conf"

        options {
            pidfile = "$RUNDIR/rspamd.pid";
            .include "$CONFDIR/options.inc"
            .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
        }

        logging {
            type = "console";
            level = "notice";
        }

        # The only worker: the proxy, speaking milter to the MTA and scanning in-process (self_scan), so no normal worker
        # and no controller are needed.
        worker "rspamd_proxy" {
            bind_socket = "{{bindSocket}}";
            milter = yes;
            timeout = 30s;
            upstream "local" {
                default = yes;
                self_scan = yes;
            }
            count = 1;
            spam_header = "X-Spam";
            reject_message = "{{RejectMessage}}";
        }

        """;

    /// <summary><c>$LOCAL_CONFDIR/local.d/options.inc</c>, merged over the stock options (a <c>dns</c> block in the main
    /// file would not replace the stock one).</summary>
    public static string Options(string nameserver) => $$"""
        # Start-up in seconds rather than compiling every regular expression with Hyperscan first.
        disable_hyperscan = true;
        # The tests' own DNS (or a closed port, failing every query at once): never the machine's resolvers.
        dns {
            nameserver = ["{{nameserver}}"];
            timeout = 0.5s;
            retransmits = 1;
        }

        """;

    /// <summary>The other files of <c>$LOCAL_CONFDIR/local.d</c>.</summary>
    public static readonly IReadOnlyList<(string Name, string Text)> LocalConfig =
    [
        // X-Spamd-Result, X-Rspamd-Server and X-Rspamd-Queue-Id on every message: proof the scan ran, and the score.
        // By default they are left off mail from local networks and authenticated clients, which is all a test sends.
        ("milter_headers.conf", "extended_spam_headers = true;\nskip_local = false;\nskip_authenticated = false;\n"),
        // Greylisting needs Redis, which this set-up does not have; without this a middling score would be a 451.
        ("actions.conf", "greylist = null;\n"),
        // DKIM signatures are checked on mail from local networks too (the tests' clients are on 127.0.0.1): rspamd after
        // OpenDKIM checks the signature OpenDKIM just added.
        ("dkim.conf", "check_local = true;\ncheck_authed = true;\n"),
        // The host-name checks score unresolvable names: without DNS every name is unresolvable.
        ("hfilter.conf", "enabled = false;\n"),
    ];

    /// <summary>Stops the filter (a test of a milter that went away).</summary>
    public Task StopAsync() => _process.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        DaemonProcess.DeleteQuietly(Root);
    }
}
