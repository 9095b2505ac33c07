// The F# greylisting plugin, loaded from its build output and driven over SMTP on a fake clock.
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Plugins.Tests.Infrastructure;

namespace Mta.Plugins.Tests;

public sealed class GreylistPluginTests : IDisposable
{
    private readonly string _root = PluginServer.NewRoot();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private string StateFile => Path.Combine(_root, "greylist", "state.json");

    public void Dispose() => PluginServer.TryDelete(_root);

    private Task<MtaTestServer> StartAsync(params (string, string)[] extra) =>
        PluginServer.StartAsync(o =>
        {
            NoSessionDeadlines(o);
            o.Plugins["greylist"] = new PluginOptions
            {
                Path = PluginServer.GreylistOutput,
                Settings = PluginConfig.Settings([("StateFile", StateFile), .. extra]),
            };
        }, _time, _root);

    /// <summary>
    /// The fake clock drives the sessions' deadlines too; advancing it by minutes or days must not fire the deadline
    /// of a session that is still closing (its pipe may already be completed). 30 days: timers refuse more than ~49.
    /// </summary>
    private static void NoSessionDeadlines(MtaOptions o)
    {
        o.Limits.CommandTimeout = TimeSpan.FromDays(30);
        o.Limits.DataTimeout = TimeSpan.FromDays(30);
    }

    private static async Task<RawReply> RcptAsync(MtaTestServer server, string from, string to)
    {
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync($"MAIL FROM:<{from}>"), 250);
        return await c.CommandAsync($"RCPT TO:<{to}>");
    }

    [Fact]
    public async Task First_attempt_and_early_retries_are_greylisted_then_a_timely_retry_passes()
    {
        await using var server = await StartAsync();
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1", "Greylisted");
        _time.Advance(TimeSpan.FromSeconds(299));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1");
        _time.Advance(TimeSpan.FromSeconds(1));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
        // Whitelisted now: no delay for the next message of the same triplet.
        _time.Advance(TimeSpan.FromDays(10));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
        // Another triplet starts its own greylisting.
        SmtpAssert.Reply(await RcptAsync(server, "b@remote.test", "user@example.test"), 451, "4.7.1");
    }

    [Fact]
    public async Task A_retry_after_the_window_starts_over()
    {
        await using var server = await StartAsync(("DelaySeconds", "60"), ("RetryWindowHours", "1"));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1");
        _time.Advance(TimeSpan.FromHours(2));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1");
        _time.Advance(TimeSpan.FromSeconds(60));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
    }

    [Fact]
    public async Task The_state_file_is_written_and_reloaded_after_a_restart()
    {
        await using (var server = await StartAsync())
            SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1");

        Assert.True(File.Exists(StateFile));
        Assert.False(File.Exists(StateFile + ".tmp"));
        using (var json = JsonDocument.Parse(await File.ReadAllTextAsync(StateFile)))
        {
            var key = Assert.Single(json.RootElement.EnumerateObject()).Name;
            Assert.Equal("127.0.0.0/24 <a@remote.test> <user@example.test>", key);
        }

        _time.Advance(TimeSpan.FromMinutes(6));
        await using (var server = await StartAsync())
            SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
    }

    [Fact]
    public async Task A_trusted_client_is_not_greylisted()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            NoSessionDeadlines(o);
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Plugins["greylist"] = new PluginOptions
            {
                Path = PluginServer.GreylistOutput,
                Settings = PluginConfig.Settings(("StateFile", StateFile)),
            };
        }, _time, _root);
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
    }

    [Fact]
    public async Task A_bad_setting_stops_start_up_naming_the_key()
    {
        var ex = await PluginServer.StartFailsAsync(o => o.Plugins["greylist"] = new PluginOptions
        {
            Path = PluginServer.GreylistOutput,
            Settings = PluginConfig.Settings(("DelaySeconds", "soon")),
        });
        Assert.IsType<StartupException>(ex);
        Assert.Contains("Plugins:greylist: ", ex.Message);
        Assert.Contains("Settings:DelaySeconds must be a non-negative number, not 'soon'", ex.Message);
    }

    [Fact]
    public async Task In_the_state_store_a_timely_retry_passes_and_no_file_is_written()
    {
        await using var server = await StartAsync(("Store", "State"));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1", "Greylisted");
        _time.Advance(TimeSpan.FromSeconds(299));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 451, "4.7.1");
        _time.Advance(TimeSpan.FromSeconds(1));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
        _time.Advance(TimeSpan.FromDays(10));
        SmtpAssert.Reply(await RcptAsync(server, "a@remote.test", "user@example.test"), 250);
        SmtpAssert.Reply(await RcptAsync(server, "b@remote.test", "user@example.test"), 451, "4.7.1");
        Assert.False(File.Exists(StateFile));
    }

    [Fact]
    public async Task Two_nodes_sharing_redis_greylist_together_and_let_mail_through_while_it_is_down()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        Task<MtaTestServer> Node(string name) => PluginServer.StartAsync(o =>
        {
            NoSessionDeadlines(o);
            o.State.Provider = StateProvider.Redis;
            o.State.Redis.Configuration = redis.Configuration;
            o.State.Redis.BreakDuration = TimeSpan.FromSeconds(1);
            o.Plugins["greylist"] = new PluginOptions
            {
                Path = PluginServer.GreylistOutput,
                Settings = PluginConfig.Settings(("Store", "State")),
            };
        }, _time, Path.Combine(_root, name));
        await using var first = await Node("first");
        await using var second = await Node("second");

        SmtpAssert.Reply(await RcptAsync(first, "a@remote.test", "user@example.test"), 451, "4.7.1", "Greylisted");
        SmtpAssert.Reply(await RcptAsync(second, "a@remote.test", "user@example.test"), 451, "4.7.1");
        Assert.StartsWith("$", await redis.CommandAsync("GET", "mta:plugin:greylist:triplet:127.0.0.0/24 <a@remote.test> <user@example.test>"));
        _time.Advance(TimeSpan.FromSeconds(300));
        // The retry lands on the other node and passes: it knows the first attempt.
        SmtpAssert.Reply(await RcptAsync(second, "a@remote.test", "user@example.test"), 250);
        SmtpAssert.Reply(await RcptAsync(first, "a@remote.test", "user@example.test"), 250);

        redis.Kill();
        // Fails open: an unknown triplet is let through rather than deferred by a greylist that cannot remember.
        SmtpAssert.Reply(await RcptAsync(first, "new@remote.test", "user@example.test"), 250);
        SmtpAssert.Reply(await RcptAsync(second, "new@remote.test", "user@example.test"), 250);

        await redis.RestartAsync();
        await Mta.Testing.Conditions.WaitUntilAsync(async () =>
            (await RcptAsync(first, "later@remote.test", "user@example.test")).Code == 451, "greylisting again after Redis restarted",
            TimeSpan.FromSeconds(20));
        SmtpAssert.Reply(await RcptAsync(second, "later@remote.test", "user@example.test"), 451, "4.7.1");
    }
}
