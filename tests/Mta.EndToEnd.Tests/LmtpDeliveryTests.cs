// LMTP delivery (RFC 2033) to a real Dovecot started privately by the test: mail lands in its Maildir, 5xx bounces (over
// quota too), Dovecot's own 4xx and a stopped Dovecot defer.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Control;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LmtpDeliveryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Mail_for_local_users_lands_in_the_Dovecot_Maildir_and_an_unknown_user_bounces_with_its_own_reply()
    {
        await using var dovecot = await DovecotInstance.StartAsync(["alice", "bob", "carol"]);
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartMtaAsync(dovecot, events);

        // One transaction, three recipients: Dovecot answers each after the dot, in order, and only zed is refused.
        await using (var c = await SmtpAssert.ConnectAsync(mta))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@localhost", ["bob@example.test", "zed@example.test", "carol@example.test"],
                "From: <alice@localhost>\r\nSubject: over lmtp\r\n\r\n.leading dot\r\nbody line\r\n".Replace("\r\n.", "\r\n..", StringComparison.Ordinal)),
                250);
        }

        var bob = await dovecot.WaitForMailAsync("bob");
        var carol = await dovecot.WaitForMailAsync("carol");
        Assert.Contains("Subject: over lmtp", File.ReadAllText(bob[0]), StringComparison.Ordinal);
        Assert.Contains("\n.leading dot", File.ReadAllText(carol[0]).ReplaceLineEndings("\n"), StringComparison.Ordinal);

        await Conditions.WaitUntilAsync(() => events.Any(e => e.StartsWith("bounced <zed@example.test>", StringComparison.Ordinal)),
            "zed bounced; events: " + string.Join(" | ", events), Bound);
        Assert.Contains(events, e => e.StartsWith("bounced <zed@example.test>", StringComparison.Ordinal) && e.Contains("5.1.1", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.StartsWith("deferred", StringComparison.Ordinal));

        // The DSN to alice@localhost is local mail too: it goes over LMTP into alice's Dovecot mailbox, with Dovecot's reply.
        var dsn = File.ReadAllText((await dovecot.WaitForMailAsync("alice"))[0]);
        Assert.Contains("zed@example.test", dsn, StringComparison.Ordinal);
        Assert.Contains("Status: 5.1.1", dsn, StringComparison.Ordinal);
        Assert.Contains("Diagnostic-Code: smtp; 550 5.1.1", dsn, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@example.test", dsn.Split("Content-Type: message/delivery-status")[1].Split("Content-Type:", 2)[0], StringComparison.Ordinal);

        await Conditions.WaitUntilAsync(() => !Pending(mta).Any(), "queue empty; pending: " + string.Join(", ", Pending(mta)), Bound);
    }

    [Fact]
    public async Task A_stopped_Dovecot_defers_every_recipient_with_4_4_1()
    {
        var dovecot = await DovecotInstance.StartAsync(["bob"]);
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartMtaAsync(dovecot, events);
        await dovecot.DisposeAsync();

        await using (var c = await SmtpAssert.ConnectAsync(mta))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@localhost", ["bob@example.test"], "Subject: later\r\n\r\nbody\r\n"), 250);
        }

        await Conditions.WaitUntilAsync(() => events.Any(e => e.StartsWith("deferred <bob@example.test>", StringComparison.Ordinal)),
            "bob deferred; events: " + string.Join(" | ", events), Bound);
        Assert.Contains(events, e => e.StartsWith("deferred <bob@example.test>: 4.4.1", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.StartsWith("bounced", StringComparison.Ordinal));
        Assert.Contains("bob@example.test", Pending(mta));
    }

    [Fact]
    public async Task A_mailbox_over_its_Dovecot_quota_bounces_with_5_2_2_and_the_others_still_get_their_copy()
    {
        // Dovecot's quota plugin with a 1 KB limit for "full": its LMTP refuses the message after DATA (552 5.2.2).
        await using var dovecot = await DovecotInstance.StartAsync(["bob", "full"],
            new Dictionary<string, string> { ["full"] = "userdb_quota_rule=*:storage=1K" });
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartMtaAsync(dovecot, events);

        await using (var c = await SmtpAssert.ConnectAsync(mta))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@localhost", ["full@example.test", "bob@example.test"],
                "Subject: too big for full\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 40))), 250);
        }

        await dovecot.WaitForMailAsync("bob");
        await Conditions.WaitUntilAsync(() => events.Any(e => e.StartsWith("bounced <full@example.test>", StringComparison.Ordinal)),
            "full bounced; events: " + string.Join(" | ", events), Bound);
        Assert.Contains(events, e => e.StartsWith("bounced <full@example.test>", StringComparison.Ordinal) && e.Contains("552 5.2.2", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.StartsWith("deferred", StringComparison.Ordinal));
        Assert.Empty(dovecot.Mail("full"));
    }

    [Fact]
    public async Task A_temporary_refusal_from_Dovecot_itself_defers_the_recipient_and_keeps_it_queued()
    {
        // quota_full_tempfail makes Dovecot answer a full mailbox with 452 4.2.2: a real 4xx from the LMTP server.
        await using var dovecot = await DovecotInstance.StartAsync(["bob", "busy"],
            new Dictionary<string, string> { ["busy"] = "userdb_quota_rule=*:storage=1K userdb_quota_full_tempfail=yes" });
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartMtaAsync(dovecot, events);

        await using (var c = await SmtpAssert.ConnectAsync(mta))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@localhost", ["busy@example.test", "bob@example.test"],
                "Subject: later for busy\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('y', 70) + "\r\n", 40))), 250);
        }

        await dovecot.WaitForMailAsync("bob");
        await Conditions.WaitUntilAsync(() => events.Any(e => e.StartsWith("deferred <busy@example.test>", StringComparison.Ordinal)),
            "busy deferred; events: " + string.Join(" | ", events), Bound);
        Assert.Contains(events, e => e.StartsWith("deferred <busy@example.test>", StringComparison.Ordinal) && e.Contains("452 4.2.2", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.StartsWith("bounced", StringComparison.Ordinal));
        RecipientSnapshot[] StillQueued() =>
            [.. mta.Services.GetRequiredService<IQueueAdministration>().List().SelectMany(e => e.Recipients).Where(r => r.State.IsPending())];
        // The hooks run before the pass's outcomes are journaled: wait for bob's to leave the queue.
        await Conditions.WaitUntilAsync(() => StillQueued().Length == 1, "only busy still queued: " + string.Join(", ", StillQueued().Select(r => r.Address)), Bound);
        var busy = Assert.Single(StillQueued());
        Assert.Equal("busy@example.test", busy.Address);
        Assert.Contains("4.2.2", busy.LastError, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Pending(MtaTestServer mta) =>
        mta.Services.GetRequiredService<IQueueAdministration>().List().SelectMany(e => e.Recipients).Select(r => r.Address);

    private static Task<MtaTestServer> StartMtaAsync(DovecotInstance dovecot, ConcurrentQueue<string> events) =>
        MtaTestServer.StartAsync(
            o => o.Mailboxes.Lmtp.Endpoint = "unix:" + dovecot.Socket,
            r =>
            {
                r.Register<DeferredContext>("observe-deferred", (ctx, _) =>
                {
                    events.Enqueue($"deferred <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
                r.Register<BouncedContext>("observe-bounced", (ctx, _) =>
                {
                    events.Enqueue($"bounced <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
            });

    /// <summary>
    /// A private Dovecot (<c>dovecot -F -c CONF</c>) serving LMTP only, on a Unix socket in its own temporary folder, with
    /// its users in a passwd-file and their Maildirs under that folder. Killed (with its children) and removed on dispose.
    /// </summary>
    private sealed class DovecotInstance : IAsyncDisposable
    {
        private const string Binary = "/usr/sbin/dovecot";
        private readonly Process _process;

        private DovecotInstance(string root, Process process)
        {
            Root = root;
            _process = process;
        }

        public string Root { get; }
        public string Socket => Path.Combine(Root, "lmtp");
        private string LogFile => Path.Combine(Root, "dovecot.log");

        /// <param name="users">The users Dovecot knows.</param>
        /// <param name="extraFields">Per user, userdb extra fields (space-separated), e.g. a quota rule.</param>
        public static async Task<DovecotInstance> StartAsync(string[] users, IReadOnlyDictionary<string, string>? extraFields = null)
        {
            // CI installs dovecot-core and dovecot-lmtpd (.ci/run); a developer machine may lack them.
            if (!File.Exists(Binary)) Assert.Skip($"{Binary} is not installed (apt-get install dovecot-core dovecot-lmtpd)");
            var root = Path.Combine(Path.GetTempPath(), "mta-dovecot-" + Guid.NewGuid().ToString("n")[..12]);
            Directory.CreateDirectory(Path.Combine(root, "mail"));
            // Dovecot refuses to deliver as root: mail is stored as the current user, or as nobody when that is root.
            var uid = Environment.UserName == "root" || GetUid() == 0 ? 65534u : GetUid();
            File.SetUnixFileMode(Path.Combine(root, "mail"), (UnixFileMode)0x3FF); // 0777: the mail user creates its folders here
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            await File.WriteAllLinesAsync(Path.Combine(root, "users"),
                users.Select(u => $"{u}::{uid}:{uid}::{Path.Combine(root, "mail", u)}::{extraFields?.GetValueOrDefault(u)}"), Ct);
            await File.WriteAllTextAsync(Path.Combine(root, "dovecot.conf"), $$"""
                base_dir = {{root}}/run
                state_dir = {{root}}/state
                log_path = {{root}}/dovecot.log
                protocols = lmtp
                ssl = no
                first_valid_uid = 1
                mail_location = maildir:~/Maildir
                mail_plugins = $mail_plugins quota
                plugin {
                  quota = maildir:User quota
                }
                auth_username_format = %Ln
                passdb {
                  driver = passwd-file
                  args = {{root}}/users
                }
                userdb {
                  driver = passwd-file
                  args = {{root}}/users
                }
                service lmtp {
                  unix_listener {{root}}/lmtp {
                    mode = 0666
                  }
                }
                """, Ct);
            var psi = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-F", "-c", Path.Combine(root, "dovecot.conf") }) psi.ArgumentList.Add(a);
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + Binary);
            var instance = new DovecotInstance(root, process);
            try
            {
                await Conditions.WaitUntilAsync(() => CanConnect(instance.Socket) || process.HasExited,
                    "dovecot's LMTP socket " + instance.Socket, TimeSpan.FromSeconds(30));
                if (process.HasExited)
                    throw new InvalidOperationException($"dovecot exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync(Ct)} {instance.Log()}");
            }
            catch
            {
                await instance.DisposeAsync();
                throw;
            }
            return instance;
        }

        /// <summary>Waits (bounded) for a message in the user's Dovecot Maildir (new/).</summary>
        public async Task<string[]> WaitForMailAsync(string user)
        {
            await Conditions.WaitUntilAsync(() => Mail(user).Length > 0, $"mail for {user}; dovecot log: {Log()}", Bound);
            return Mail(user);
        }

        /// <summary>The messages in the user's Dovecot Maildir (new/) now.</summary>
        public string[] Mail(string user)
        {
            var folder = Path.Combine(Root, "mail", user, "Maildir", "new");
            return Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
        }

        private string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)";

        private static bool CanConnect(string path)
        {
            if (!File.Exists(path)) return false;
            using var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getuid")]
        private static extern uint GetUid();

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
            _process.Dispose();
            MtaTestServer.DeleteQuietly(Root);
        }
    }
}
