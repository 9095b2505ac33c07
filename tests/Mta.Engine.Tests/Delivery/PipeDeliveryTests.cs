// Pipe delivery with real processes: the message and envelope a command sees, sysexits outcomes, the time limit, the account.
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Delivery;

public sealed class PipeDeliveryTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly MtaOptions _options = new() { Mailboxes = { RecipientDelimiter = "+" } };

    public PipeDeliveryTests()
    {
        // As root the commands run as nobody, who must be able to leave its traces here.
        OpenTestFolder.ForEveryone(_dir.Path);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private PipeDelivery Pipe() => new(_options, UnixAccounts.System, TimeProvider.System, NullLogger<PipeDelivery>.Instance);

    private static IQueuedMessage Spooled(string recipient) =>
        new TestSpooledMessage(SpoolTestData.EnvelopeFrom(new SmtpAddress("s", "remote.test"), null, recipient));

    private string Trace(string name) => Path.Combine(_dir.Path, name);

    private Task<DeliveryOutcome> RunAsync(string command, string recipient = "alice@example.org", UnixAccount? runAs = null, TimeSpan? limit = null)
    {
        var message = Spooled(recipient);
        return Pipe().PipeAsync(command, runAs, message, message.Recipients[0], limit ?? TimeSpan.FromMinutes(1), Ct).AsTask();
    }

    [Fact]
    public async Task Exit_0_delivers_and_the_command_sees_the_message_and_the_envelope()
    {
        var message = Spooled("alice+tag@example.org");
        var outcome = await Pipe().PipeAsync($"cat > {Trace("msg")}; env > {Trace("env")}; pwd > {Trace("pwd")}", null, message,
            message.Recipients[0], Ct);

        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal("2.0.0", outcome.EnhancedStatus);
        Assert.Equal("Return-Path: <s@remote.test>\nDelivered-To: alice+tag@example.org\n" + TestMessage.Text.Replace("\r\n", "\n"),
            File.ReadAllText(Trace("msg")));
        var env = File.ReadAllLines(Trace("env")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var account = UnixAccounts.IsEffectiveRoot ? UnixAccounts.System.ByName("nobody")! : UnixAccounts.System.ByUid(UnixAccounts.EffectiveUid)!;
        Assert.Equal("s@remote.test", env["SENDER"]);
        Assert.Equal("alice+tag@example.org", env["RECIPIENT"]);
        Assert.Equal("alice+tag@example.org", env["ORIGINAL_RECIPIENT"]);
        Assert.Equal("alice+tag", env["LOCAL"]);
        Assert.Equal("example.org", env["DOMAIN"]);
        Assert.Equal("tag", env["EXTENSION"]);
        Assert.Equal(account.Name, env["USER"]);
        Assert.Equal(account.Name, env["LOGNAME"]);
        Assert.Equal(account.Home, env["HOME"]);
        Assert.Equal("/usr/bin:/bin", env["PATH"]);
        Assert.Equal(message.QueueId, env["QUEUE_ID"]);
        Assert.Equal("192.0.2.7", env["CLIENT_ADDRESS"]);
        Assert.Equal("client.remote.test", env["CLIENT_HELO"]);
        Assert.True(env.ContainsKey("SHELL"));
        // A clean environment: nothing of the server's own (the shell adds only PWD and the like).
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("DOTNET", StringComparison.Ordinal) || k == "TMPDIR" || k == "LANG");
        var home = Directory.Exists(account.Home) ? account.Home : "/";
        Assert.Equal(Path.GetFullPath(home).TrimEnd('/') is "" ? "/" : Path.GetFullPath(home).TrimEnd('/'), File.ReadAllText(Trace("pwd")).Trim());
    }

    [Fact]
    public async Task Exit_67_bounces_with_5_1_1()
    {
        var outcome = await RunAsync("exit 67");
        Assert.Equal((DeliveryStatus.Failed, "5.1.1"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("user unknown", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_75_defers_with_4_3_0_and_the_output_goes_into_the_detail()
    {
        var outcome = await RunAsync("echo to-stdout; echo to-stderr >&2; exit 75");
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("temporary failure", outcome.Detail, StringComparison.Ordinal);
        Assert.Contains("Command output:", outcome.Detail, StringComparison.Ordinal);
        Assert.Contains("to-stdout", outcome.Detail, StringComparison.Ordinal);
        Assert.Contains("to-stderr", outcome.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(64, DeliveryStatus.Failed, "5.3.0")]
    [InlineData(65, DeliveryStatus.Failed, "5.6.0")]
    [InlineData(68, DeliveryStatus.Failed, "5.1.2")]
    [InlineData(71, DeliveryStatus.Deferred, "4.3.0")]
    [InlineData(73, DeliveryStatus.Failed, "5.2.0")]
    [InlineData(76, DeliveryStatus.Failed, "5.5.0")]
    [InlineData(77, DeliveryStatus.Failed, "5.7.0")]
    [InlineData(78, DeliveryStatus.Failed, "5.3.5")]
    [InlineData(1, DeliveryStatus.Failed, "5.3.0")]
    public async Task Exit_statuses_map_as_postfix_sys_exits(int status, DeliveryStatus expected, string code)
    {
        var outcome = await RunAsync($"exit {status}");
        Assert.Equal((expected, code), (outcome.Status, outcome.EnhancedStatus));
    }

    [Fact]
    public async Task A_command_killed_by_a_signal_defers()
    {
        var outcome = await RunAsync("kill -9 $$");
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("signal 9", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_over_its_time_limit_is_killed_with_its_children_and_deferred()
    {
        var pidFile = Trace("child.pid");
        var outcome = await RunAsync($"echo started; sleep 300 & echo $! > {pidFile}; sleep 300", limit: TimeSpan.FromSeconds(1));

        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("time limit", outcome.Detail, StringComparison.Ordinal);
        Assert.Contains("started", outcome.Detail, StringComparison.Ordinal);
        var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        // The background child got the group's SIGKILL too: gone, or a zombie waiting for its new parent to reap it.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (IsRunning(child) && DateTime.UtcNow < deadline) await Task.Delay(50, Ct);
        Assert.False(IsRunning(child), $"the command's child {child} survived the time limit");
    }

    [Fact]
    public async Task Cancellation_kills_the_command()
    {
        var pidFile = Trace("cancel.pid");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var message = Spooled("alice@example.org");
        var run = Pipe().PipeAsync($"echo $$ > {pidFile}; sleep 300", null, message, message.Recipients[0], TimeSpan.FromMinutes(5), cts.Token).AsTask();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(pidFile) || File.ReadAllText(pidFile).Trim().Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the command never started");
            await Task.Delay(20, Ct);
        }
        var shell = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.False(IsRunning(shell));
    }

    [Fact]
    public async Task As_root_the_command_runs_as_the_given_account()
    {
        if (!UnixAccounts.IsEffectiveRoot) Assert.Skip("needs root: only root can run a command as another account");
        var nobody = UnixAccounts.System.ByName("nobody");
        Assert.NotNull(nobody);
        var outcome = await RunAsync($"id -u > {Trace("uid")}; id -g > {Trace("gid")}", runAs: nobody);
        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal("65534", File.ReadAllText(Trace("uid")).Trim());
        Assert.Equal(nobody.Gid.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Trace("gid")).Trim());
    }

    [Fact]
    public async Task As_root_a_root_account_is_never_used()
    {
        if (!UnixAccounts.IsEffectiveRoot) Assert.Skip("needs root");
        var outcome = await RunAsync($"id -u > {Trace("uid")}", runAs: UnixAccounts.System.ByUid(0));
        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.NotEqual("0", File.ReadAllText(Trace("uid")).Trim());
    }

    [Fact]
    public async Task Not_as_root_the_command_runs_as_the_server_s_own_user_named_after_the_account()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("Unix accounts");
        var serviceUser = new PipeDelivery(_options, new UnixAccounts(null, runsAsRoot: false), TimeProvider.System, NullLogger<PipeDelivery>.Instance);
        var message = Spooled("alice@example.org");
        var account = new UnixAccount("alice", 4242, 4242, "/", "/bin/sh");
        var outcome = await serviceUser.PipeAsync($"id -u > {Trace("uid")}; echo \"$USER $HOME\" > {Trace("user")}", account, message,
            message.Recipients[0], Ct);
        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal(UnixAccounts.EffectiveUid.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Trace("uid")).Trim());
        Assert.Equal("alice /", File.ReadAllText(Trace("user")).Trim());
    }

    /// <summary>Alive and not a zombie.</summary>
    internal static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
