// The control socket itself: lifecycle (mode 0666 on Linux, stale file, second server), framing limits, errors, streaming, peers, per-command access.
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using static Mta.Testing.Conditions;

namespace Mta.Engine.Tests.Control;

public sealed class ControlServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Start_creates_the_data_directory_and_a_socket_any_local_user_can_reach_and_stop_removes_it()
    {
        await using var harness = new ControlHarness(subdirectory: "not-yet/there");
        Assert.False(Directory.Exists(harness.DataDirectory));
        await harness.StartAsync();

        Assert.Equal(Path.Combine(harness.DataDirectory, "control.sock"), harness.SocketPath);
        Assert.True(File.Exists(harness.SocketPath));
        // Open to all where peer credentials decide per command (Linux), owner-only elsewhere.
        Assert.Equal(ControlServer.SocketMode, ModeOf(harness.SocketPath));
        if (OperatingSystem.IsLinux()) Assert.Equal((UnixFileMode)0b110_110_110, ModeOf(harness.SocketPath));
        await using (var client = await harness.ConnectAsync())
            Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);

        await harness.StopAsync();
        Assert.False(File.Exists(harness.SocketPath));
        await Assert.ThrowsAsync<ControlServerUnavailableException>(() => harness.ConnectAsync());
    }

    [Fact]
    public async Task Malformed_json_and_unknown_commands_answer_ok_false_and_the_connection_goes_on()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var raw = await harness.ConnectRawAsync();

        foreach (var bad in new[] { "this is not json", "{\"command\":", "[1,2]", "{\"args\":{}}", "{\"command\":42}", "{\"command\":\"test.echo\",\"args\":[1]}", "{\"command\":\"x\"} trailing" })
        {
            await raw.WriteAsync(bad + "\n");
            var reply = await raw.ReadJsonAsync();
            Assert.False(reply.GetProperty("ok").GetBoolean(), bad);
            Assert.Equal("bad_request", reply.GetProperty("code").GetString());
            Assert.StartsWith("malformed request", reply.GetProperty("error").GetString());
        }

        await raw.WriteAsync("{\"command\":\"queue.frobnicate\"}\n");
        var unknown = await raw.ReadJsonAsync();
        Assert.False(unknown.GetProperty("ok").GetBoolean());
        Assert.Equal("unknown_command", unknown.GetProperty("code").GetString());
        Assert.Contains("queue.frobnicate", unknown.GetProperty("error").GetString());

        // Same connection, still in step: a good request gets its own answer.
        await raw.WriteAsync("{\"command\":\"test.echo\",\"args\":{\"n\":7}}\r\n");
        var echo = await raw.ReadJsonAsync();
        Assert.True(echo.GetProperty("ok").GetBoolean());
        Assert.Equal(7, echo.GetProperty("result").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task Requests_sent_together_are_answered_in_order_and_blank_lines_are_ignored()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var raw = await harness.ConnectRawAsync();
        await raw.WriteAsync("{\"command\":\"test.echo\",\"args\":{\"n\":1}}\n\n  \n{\"command\":\"test.echo\",\"args\":{\"n\":2}}\n{\"command\":\"test.echo\",\"args\":{\"n\":3}}");
        raw.ShutdownSend();
        for (var n = 1; n <= 3; n++)
            Assert.Equal(n, (await raw.ReadJsonAsync()).GetProperty("result").GetProperty("n").GetInt32());
        Assert.Null(await raw.ReadLineAsync());
    }

    [Fact]
    public async Task An_over_long_request_is_refused_and_the_connection_goes_on()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var raw = await harness.ConnectRawAsync();

        // Exactly at the limit is still a request (padding is whitespace inside the JSON object).
        var request = "{\"command\":\"test.echo\",\"args\":{\"n\":1}";
        await raw.WriteAsync(request + new string(' ', 64 * 1024 - request.Length - 1) + "}\n");
        Assert.True((await raw.ReadJsonAsync()).GetProperty("ok").GetBoolean());

        // One byte over, arriving in pieces: answered as soon as it is over, the rest of the line dropped.
        await raw.WriteAsync(new string('a', 64 * 1024 + 1));
        var tooLong = await raw.ReadJsonAsync();
        Assert.False(tooLong.GetProperty("ok").GetBoolean());
        Assert.Equal("too_long", tooLong.GetProperty("code").GetString());
        await raw.WriteAsync(new string('b', 200 * 1024) + "\n");

        await raw.WriteAsync("{\"command\":\"test.echo\",\"args\":{\"n\":2}}\n");
        Assert.Equal(2, (await raw.ReadJsonAsync()).GetProperty("result").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task A_stale_socket_file_is_replaced()
    {
        await using var harness = new ControlHarness();
        ControlHarness.CreateStaleSocket(harness.SocketPath);
        Assert.True(File.Exists(harness.SocketPath));
        await Assert.ThrowsAsync<ControlServerUnavailableException>(() => harness.ConnectAsync());

        await harness.StartAsync();
        await using var client = await harness.ConnectAsync();
        Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);
        Assert.Equal(ControlServer.SocketMode, ModeOf(harness.SocketPath));
    }

    [Fact]
    public async Task A_leftover_regular_file_is_replaced_too()
    {
        await using var harness = new ControlHarness();
        await File.WriteAllTextAsync(harness.SocketPath, "junk", Ct);
        await harness.StartAsync();
        await using var client = await harness.ConnectAsync();
        Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);
    }

    [Fact]
    public async Task A_second_server_on_the_same_data_directory_refuses_to_start_and_leaves_the_first_alone()
    {
        await using var harness = await new ControlHarness().StartAsync();
        using var second = harness.NewServer();

        var ex = await Assert.ThrowsAsync<StartupException>(() => second.StartAsync(Ct));
        Assert.Contains($"another Mta is already running with data directory {harness.DataDirectory}", ex.Message);
        await second.StopAsync(Ct);

        Assert.True(File.Exists(harness.SocketPath));
        await using var client = await harness.ConnectAsync();
        Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);
    }

    [Fact]
    public async Task A_handler_that_throws_answers_ok_false_and_the_server_goes_on()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using (var client = await harness.ConnectAsync())
        {
            var failed = await client.RequestAsync("test.throw", null, Ct);
            Assert.False(failed.Ok);
            Assert.Equal("internal", failed.Code);
            Assert.Contains("handler bug", failed.Error);
            Assert.Throws<ControlCommandException>(failed.EnsureOk);
            // Same connection.
            Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);
        }
        // New connection.
        await using var again = await harness.ConnectAsync();
        Assert.True((await again.RequestAsync("test.echo", null, Ct)).Ok);
    }

    [Fact]
    public async Task A_handler_that_sends_nothing_answers_ok_with_a_null_result()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var client = await harness.ConnectAsync();
        var response = await client.RequestAsync("test.silent", null, Ct);
        Assert.True(response.Ok);
        Assert.Equal(JsonValueKind.Null, response.Result.ValueKind);
    }

    [Fact]
    public async Task Peer_credentials_are_those_of_the_connecting_process()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "SO_PEERCRED is Linux");
        await using var harness = await new ControlHarness().StartAsync();
        await using var client = await harness.ConnectAsync();
        var peer = (await client.RequestAsync("test.whoami", null, Ct)).Result;
        var (uid, gid) = CurrentIds();
        Assert.Equal(Environment.ProcessId, peer.GetProperty("pid").GetInt32());
        Assert.Equal(uid, peer.GetProperty("uid").GetUInt32());
        Assert.Equal(gid, peer.GetProperty("gid").GetUInt32());
    }


    private static UnixFileMode ModeOf(string path)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("Unix file modes");
        return File.GetUnixFileMode(path);
    }

    // The effective uid and gid from /proc, without interop.
    private static (uint Uid, uint Gid) CurrentIds()
    {
        var lines = File.ReadAllLines("/proc/self/status");
        uint Effective(string key) => uint.Parse(lines.First(l => l.StartsWith(key + ":")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2]);
        return (Effective("Uid"), Effective("Gid"));
    }

    [Fact]
    public async Task A_streaming_command_sends_many_lines_and_then_a_final_one()
    {
        var secondFinal = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = new DelegateHandler("test.stream", async (request, connection, ct) =>
        {
            var count = (int)request.GetInt64("count", 0);
            // Parts from several threads at once: lines must never interleave.
            await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(() => connection.SendPartAsync(new JsonObject { ["i"] = i, ["pad"] = new string('x', 2000) }, ct))));
            await connection.SendAsync(new JsonObject { ["done"] = count }, ct);
            try { await connection.SendAsync(null, ct); secondFinal.TrySetResult(false); }
            catch (InvalidOperationException) { secondFinal.TrySetResult(true); }
        });
        await using var harness = await new ControlHarness(extra: [stream]).StartAsync();
        await using var client = await harness.ConnectAsync();

        var seen = new HashSet<int>();
        ControlResponse? last = null;
        await foreach (var response in client.SendAsync("test.stream", new JsonObject { ["count"] = 200 }, Ct))
        {
            if (response.More) Assert.True(seen.Add(response.Result.GetProperty("i").GetInt32()));
            last = response;
        }
        Assert.Equal(200, seen.Count);
        Assert.Equal(200, last!.Result.GetProperty("done").GetInt32());
        Assert.True(await secondFinal.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct), "a second final line was sent");
        await Assert.ThrowsAsync<ControlException>(() => client.RequestAsync("test.stream", new JsonObject { ["count"] = 1 }, Ct));
    }

    [Fact]
    public async Task A_long_lived_command_learns_when_its_client_goes_away()
    {
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = new DelegateHandler("test.watch", async (_, connection, ct) =>
        {
            await connection.SendPartAsync(new JsonObject { ["watching"] = true }, ct);
            // Input from the client while the command runs; null once it closed its side.
            while (await connection.ReadRequestAsync(ct) is { } input)
                await connection.SendPartAsync(new JsonObject { ["got"] = input.Command }, ct);
            ended.SetResult("client closed");
        });
        await using var harness = await new ControlHarness(o => o.IdleTimeout = TimeSpan.FromMilliseconds(200), [watch]).StartAsync();
        await using (var raw = await harness.ConnectRawAsync())
        {
            await raw.WriteAsync("{\"command\":\"test.watch\"}\n");
            Assert.True((await raw.ReadJsonAsync()).GetProperty("more").GetBoolean());
            // Longer than the idle timeout: that limit is for request/response connections, not a running command.
            await Task.Delay(600, Ct);
            await raw.WriteAsync("{\"command\":\"ping\"}\n");
            Assert.Equal("ping", (await raw.ReadJsonAsync()).GetProperty("result").GetProperty("got").GetString());
        }
        Assert.Equal("client closed", await ended.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task Stopping_the_server_cancels_a_running_command_and_closes_its_connection()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var forever = new DelegateHandler("test.forever", async (_, connection, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        await using var harness = await new ControlHarness(extra: [forever]).StartAsync();
        await using var raw = await harness.ConnectRawAsync();
        await raw.WriteAsync("{\"command\":\"test.forever\"}\n");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var stop = harness.StopAsync();
        await stop.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Null(await raw.ReadLineAsync());
        Assert.False(File.Exists(harness.SocketPath));
    }

    [Fact]
    public async Task An_idle_connection_is_closed_after_the_idle_timeout()
    {
        await using var harness = await new ControlHarness(o => o.IdleTimeout = TimeSpan.FromMilliseconds(200)).StartAsync();
        await using var raw = await harness.ConnectRawAsync();
        Assert.Null(await raw.ReadLineAsync(TimeSpan.FromSeconds(5)));
        // The count drops just after the socket closes.
        await WaitUntilAsync(() => harness.Server.ActiveConnections == 0);
        Assert.Equal(0, harness.Server.ActiveConnections);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_answered_busy_and_closed()
    {
        await using var harness = await new ControlHarness(o => o.MaxConnections = 2).StartAsync();
        var first = await harness.ConnectAsync();
        await using var second = await harness.ConnectAsync();
        // Served (not just queued in the backlog) once each has had an answer.
        Assert.True((await first.RequestAsync("test.echo", null, Ct)).Ok);
        Assert.True((await second.RequestAsync("test.echo", null, Ct)).Ok);

        await using (var third = await harness.ConnectRawAsync())
        {
            var busy = await third.ReadJsonAsync();
            Assert.Equal("busy", busy.GetProperty("code").GetString());
            Assert.Null(await third.ReadLineAsync());
        }

        await first.DisposeAsync();
        await WaitUntilAsync(() => harness.Server.ActiveConnections <= 1);
        await using var fourth = await harness.ConnectAsync();
        Assert.True((await fourth.RequestAsync("test.echo", null, Ct)).Ok);
    }

    [Fact]
    public async Task The_client_reports_no_running_server_for_a_missing_or_refusing_socket()
    {
        await using var harness = new ControlHarness();
        var missing = await Assert.ThrowsAsync<ControlServerUnavailableException>(() => harness.ConnectAsync());
        Assert.Equal($"no running server (no control socket at {harness.SocketPath}); start it with 'mta run'", missing.Message);
        Assert.Equal(harness.SocketPath, missing.SocketPath);

        ControlHarness.CreateStaleSocket(harness.SocketPath);
        var refused = await Assert.ThrowsAsync<ControlServerUnavailableException>(() => harness.ConnectAsync());
        Assert.Equal(missing.Message, refused.Message);
    }

    [Fact]
    public async Task Another_user_may_connect_but_only_commands_open_to_any_user_serve_it()
    {
        Assert.SkipWhen(UnprivilegedClient.SkipReason() is { } reason, UnprivilegedClient.SkipReason() ?? "");
        var open = new DelegateHandler("test.open", (_, c, ct) => c.SendAsync(c.Peer is { } p ? new JsonObject { ["uid"] = p.UserId } : null, ct)) { AnyUser = true };
        await using var harness = await new ControlHarness(extra: [open]).StartAsync();
        UnprivilegedClient.MakeReachable(harness.DataDirectory);
        Assert.True(harness.Server.IsPrivileged(new PeerCredentials(1, 0, 0)));
        Assert.False(harness.Server.IsPrivileged(new PeerCredentials(1, UnprivilegedClient.NobodyUid, UnprivilegedClient.NobodyUid)));

        foreach (var command in new[] { QueueControlCommands.List, QueueControlCommands.Flush, QueueControlCommands.Delete, "test.echo" })
        {
            var lines = await UnprivilegedClient.RunAsync(harness.SocketPath, $"{{\"command\":\"{command}\"}}");
            var reply = JsonDocument.Parse(Assert.Single(lines[0])).RootElement;
            Assert.False(reply.GetProperty("ok").GetBoolean(), command);
            Assert.Equal(ControlErrorCodes.Forbidden, reply.GetProperty("code").GetString());
            Assert.Contains("only for the user the server runs as", reply.GetProperty("error").GetString());
        }
        Assert.Empty(harness.Queue.Flushes);

        var allowed = JsonDocument.Parse(Assert.Single((await UnprivilegedClient.RunAsync(harness.SocketPath, "{\"command\":\"test.open\"}"))[0])).RootElement;
        Assert.True(allowed.GetProperty("ok").GetBoolean());
        Assert.Equal(UnprivilegedClient.NobodyUid, allowed.GetProperty("result").GetProperty("uid").GetUInt32());

        // The server's own user (root here) is served as before.
        await using var client = await harness.ConnectAsync();
        Assert.True((await client.RequestAsync(QueueControlCommands.Flush, null, Ct)).Ok);
    }

    [Fact]
    public async Task One_other_user_cannot_take_every_connection()
    {
        Assert.SkipWhen(UnprivilegedClient.SkipReason() is { } reason, UnprivilegedClient.SkipReason() ?? "");
        var open = new DelegateHandler("test.open", (_, c, ct) => c.SendAsync(null, ct)) { AnyUser = true };
        await using var harness = await new ControlHarness(o => o.MaxConnectionsPerUser = 2, [open]).StartAsync();
        UnprivilegedClient.MakeReachable(harness.DataDirectory);

        var lines = await UnprivilegedClient.RunAsync(harness.SocketPath, "{\"command\":\"test.open\"}", connections: 3);
        var replies = lines.Values.Select(l => JsonDocument.Parse(Assert.Single(l)).RootElement).ToList();
        Assert.Equal(3, replies.Count);
        Assert.Equal(2, replies.Count(r => r.GetProperty("ok").GetBoolean()));
        var busy = Assert.Single(replies, r => !r.GetProperty("ok").GetBoolean());
        Assert.Equal(ControlErrorCodes.Busy, busy.GetProperty("code").GetString());
        Assert.Contains($"uid {UnprivilegedClient.NobodyUid}", busy.GetProperty("error").GetString());

        // The limit is per other user: the server's own user still gets in, and the count went back down.
        await using var client = await harness.ConnectAsync();
        Assert.True((await client.RequestAsync("test.echo", null, Ct)).Ok);
        var again = await UnprivilegedClient.RunAsync(harness.SocketPath, "{\"command\":\"test.open\"}", connections: 2);
        Assert.All(again.Values, l => Assert.True(JsonDocument.Parse(Assert.Single(l)).RootElement.GetProperty("ok").GetBoolean()));
    }

    [Fact]
    public async Task Other_users_cannot_take_the_slots_kept_for_root_and_the_servers_own_user()
    {
        Assert.SkipWhen(UnprivilegedClient.SkipReason() is { } reason, UnprivilegedClient.SkipReason() ?? "");
        var open = new DelegateHandler("test.open", (_, c, ct) => c.SendAsync(null, ct)) { AnyUser = true };
        await using var harness = await new ControlHarness(o =>
        {
            o.MaxConnections = 6;
            o.ReservedConnections = 2;
            o.MaxConnectionsPerUser = 10;
        }, [open]).StartAsync();
        UnprivilegedClient.MakeReachable(harness.DataDirectory);

        // Really another uid (nobody, through setpriv): it holds every slot it may have, and asks for more.
        await using var holder = await UnprivilegedClient.HoldAsync(harness.SocketPath, "{\"command\":\"test.open\"}", connections: 6);
        var replies = holder.Replies.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, replies.Count(r => r.GetProperty("ok").GetBoolean()));
        var refused = replies.Where(r => !r.GetProperty("ok").GetBoolean()).ToList();
        Assert.Equal(2, refused.Count);
        Assert.All(refused, r =>
        {
            Assert.Equal(ControlErrorCodes.Busy, r.GetProperty("code").GetString());
            Assert.Contains("2 kept for root and the server's own user", r.GetProperty("error").GetString());
        });
        Assert.Equal(4, harness.Server.ActiveConnections);

        // The operator (root, the server's own uid here) still gets in, to both reserved slots, and runs a privileged command.
        await using var operatorClient = await harness.ConnectAsync();
        Assert.True((await operatorClient.RequestAsync(QueueControlCommands.Flush, null, Ct)).Ok);
        await using var second = await harness.ConnectAsync();
        Assert.True((await second.RequestAsync("test.echo", null, Ct)).Ok);
        // The whole limit still holds for everyone.
        await using (var third = await harness.ConnectRawAsync())
            Assert.Equal(ControlErrorCodes.Busy, (await third.ReadJsonAsync()).GetProperty("code").GetString());
    }

    [Fact]
    public void Handler_names_must_be_unique()
    {
        var paths = new MtaPaths(new MtaOptions { DataDirectory = Path.GetTempPath() });
        var handlers = new[] { new DelegateHandler("x", (_, _, _) => Task.CompletedTask), new DelegateHandler("x", (_, _, _) => Task.CompletedTask) };
        Assert.Throws<InvalidOperationException>(() => new ControlServer(paths, handlers, Microsoft.Extensions.Logging.Abstractions.NullLogger<ControlServer>.Instance));
    }

    [Fact]
    public async Task AddMtaControl_runs_the_server_as_a_hosted_service_with_the_queue_commands()
    {
        using var directory = new TestDirectory();
        var queue = new FakeQueueAdministration();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(new MtaPaths(new MtaOptions { DataDirectory = directory.Path }));
        services.AddSingleton<IQueueAdministration>(queue);
        services.AddMtaControl();
        services.AddMtaControl();
        await using var provider = services.BuildServiceProvider();

        var hosted = Assert.Single(provider.GetServices<IHostedService>());
        var server = Assert.IsType<ControlServer>(hosted);
        Assert.Same(server, provider.GetRequiredService<ControlServer>());
        await server.StartAsync(Ct);
        try
        {
            await using var client = await ControlClient.ConnectAsync(Path.Combine(directory.Path, "control.sock"), Ct);
            queue.FlushResult = 4;
            var flushed = (await client.RequestAsync(QueueControlCommands.Flush, null, Ct)).GetResult(QueueControlJsonContext.Default.QueueFlushResult);
            Assert.Equal(4, flushed.Scheduled);
            var lines = new List<ControlResponse>();
            await foreach (var line in client.SendAsync(QueueControlCommands.List, null, Ct)) lines.Add(line);
            Assert.Equal(0, Assert.Single(lines).GetResult(QueueControlJsonContext.Default.QueueListSummary).Messages);
        }
        finally
        {
            await server.StopAsync(Ct);
        }
    }
}
