// terminal.attach and the control sink over a real control socket: who may attach as whom, streaming, detaching, stuck clients.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Terminal;
using Mta.Engine.Tests.Control;
using static Mta.Testing.Conditions;

namespace Mta.Engine.Tests.Terminal;

public sealed class TerminalAttachTests
{
    private const string AliceToken = "alice-token-0123456789";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TerminalMessage Message = new(new SmtpAddress("bob", "example.test"), "lunch?", "Are you coming down?\nnow");

    // The login name of the uid this test runs as, as the server will map it (tests run as root in CI).
    private static string Me => Environment.UserName.ToLowerInvariant();

    private static MtaOptions Options(bool enabled = true)
    {
        var options = new MtaOptions();
        options.Terminal.Enabled = enabled;
        options.Terminal.Tokens["alice"] = AliceToken;
        return options;
    }

    private static (ControlTerminalSink Sink, TerminalAttachCommand Handler) Create(MtaOptions? options = null, TimeSpan? sendTimeout = null)
    {
        var sink = new ControlTerminalSink(TimeProvider.System, NullLogger<ControlTerminalSink>.Instance) { SendTimeout = sendTimeout ?? TimeSpan.FromSeconds(2) };
        return (sink, new TerminalAttachCommand(sink, options ?? Options(), NullLogger<TerminalAttachCommand>.Instance));
    }

    private static JsonObject Args(string? user = null, string? token = null)
    {
        var args = new JsonObject();
        if (user is not null) args["user"] = user;
        if (token is not null) args["token"] = token;
        return args;
    }

    private static TerminalEvent Read(ControlResponse response) => response.GetResult(TerminalControlJsonContext.Default.TerminalEvent);


    [Fact]
    public async Task A_peer_attaches_as_itself_is_active_while_attached_and_receives_each_message()
    {
        var (sink, handler) = Create();
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();
        Assert.True(handler.AnyUser);
        Assert.False(await sink.IsActiveAsync(Me, Ct));

        var client = await harness.ConnectAsync();
        client.ReadTimeout = TimeSpan.FromSeconds(10);
        var stream = client.SendAsync(TerminalControlCommands.Attach, null, Ct).GetAsyncEnumerator(Ct);
        Assert.True(await stream.MoveNextAsync());
        Assert.True(stream.Current.More);
        Assert.Equal(TerminalEvent.Attached(Me), Read(stream.Current));
        Assert.True(await sink.IsActiveAsync(Me, Ct));
        Assert.Equal(1, sink.AttachmentCount(Me));

        var before = DateTimeOffset.UtcNow;
        Assert.True(await sink.DeliverAsync(Me, Message, Ct));
        Assert.True(await stream.MoveNextAsync());
        var shown = Read(stream.Current);
        Assert.Equal(("message", "bob@example.test", "lunch?", "Are you coming down?\nnow"), (shown.Type, shown.From, shown.Subject, shown.Text));
        Assert.InRange(shown.ReceivedAt!.Value, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));

        // A second message on the same stream, with control characters the sink strips again.
        Assert.True(await sink.DeliverAsync(Me.ToUpperInvariant(), new TerminalMessage(SmtpAddress.Null, null, "x\u001b[2Jy"), Ct));
        Assert.True(await stream.MoveNextAsync());
        Assert.Equal(("", null, "xy"), (Read(stream.Current).From, Read(stream.Current).Subject, Read(stream.Current).Text));

        await stream.DisposeAsync();
        await client.DisposeAsync();
        await WaitUntilAsync(() => sink.AttachmentCount(Me) == 0);
        Assert.False(await sink.IsActiveAsync(Me, Ct));
        Assert.False(await sink.DeliverAsync(Me, Message, Ct));
    }

    [Fact]
    public async Task Every_attachment_of_a_user_gets_the_message()
    {
        var (sink, handler) = Create();
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();
        var streams = new List<IAsyncEnumerator<ControlResponse>>();
        var clients = new List<ControlClient>();
        for (var i = 0; i < 3; i++)
        {
            var client = await harness.ConnectAsync();
            clients.Add(client);
            var stream = client.SendAsync(TerminalControlCommands.Attach, Args(Me), Ct).GetAsyncEnumerator(Ct);
            Assert.True(await stream.MoveNextAsync());
            streams.Add(stream);
        }
        Assert.Equal(3, sink.AttachmentCount(Me));
        Assert.True(await sink.DeliverAsync(Me, Message, Ct));
        foreach (var stream in streams)
        {
            Assert.True(await stream.MoveNextAsync());
            Assert.Equal("Are you coming down?\nnow", Read(stream.Current).Text);
            await stream.DisposeAsync();
        }
        foreach (var client in clients) await client.DisposeAsync();
        await WaitUntilAsync(() => sink.AttachmentCount(Me) == 0);
    }

    [Fact]
    public async Task A_token_attaches_as_its_user_and_a_wrong_one_is_refused_whoever_presents_it()
    {
        var (sink, handler) = Create();
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();

        await using (var client = await harness.ConnectAsync())
        {
            var stream = client.SendAsync(TerminalControlCommands.Attach, Args("alice", AliceToken), Ct).GetAsyncEnumerator(Ct);
            Assert.True(await stream.MoveNextAsync());
            Assert.Equal(TerminalEvent.Attached("alice"), Read(stream.Current));
            Assert.True(await sink.IsActiveAsync("alice", Ct));
            await stream.DisposeAsync();
        }
        await WaitUntilAsync(() => sink.AttachmentCount("alice") == 0);

        await using var other = await harness.ConnectAsync();
        var wrong = await other.RequestAsync(TerminalControlCommands.Attach, Args("alice", "not-the-token-at-all"), Ct);
        Assert.Equal((false, ControlErrorCodes.Forbidden, "the token is not valid for alice"), (wrong.Ok, wrong.Code, wrong.Error));
        var none = await other.RequestAsync(TerminalControlCommands.Attach, Args("bob", AliceToken), Ct);
        Assert.Equal((false, ControlErrorCodes.Forbidden, "the token is not valid for bob"), (none.Ok, none.Code, none.Error));
        Assert.False(await sink.IsActiveAsync("alice", Ct));
    }

    [Fact]
    public async Task With_terminal_delivery_off_attaching_is_refused()
    {
        var (_, handler) = Create(Options(enabled: false));
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();
        await using var client = await harness.ConnectAsync();
        var refused = await client.RequestAsync(TerminalControlCommands.Attach, null, Ct);
        Assert.Equal((false, TerminalControlCommands.Disabled), (refused.Ok, refused.Code));
        Assert.Contains("Terminal:Enabled", refused.Error);
    }

    [Fact]
    public async Task Stopping_the_server_ends_the_stream_with_a_detached_line()
    {
        var (sink, handler) = Create();
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();
        await using var client = await harness.ConnectAsync();
        client.ReadTimeout = TimeSpan.FromSeconds(10);
        var stream = client.SendAsync(TerminalControlCommands.Attach, null, Ct).GetAsyncEnumerator(Ct);
        Assert.True(await stream.MoveNextAsync());

        await harness.StopAsync().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.True(await stream.MoveNextAsync());
        Assert.False(stream.Current.More);
        Assert.Equal(TerminalEvent.Detached("the server is stopping"), Read(stream.Current));
        Assert.False(await stream.MoveNextAsync());
        Assert.Equal(0, sink.AttachmentCount(Me));
    }

    [Fact]
    public async Task A_client_that_stopped_reading_is_dropped_and_never_holds_up_delivery_to_the_others()
    {
        var (sink, handler) = Create(sendTimeout: TimeSpan.FromMilliseconds(300));
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();

        // The stuck client reads its "attached" line and then nothing.
        await using var stuck = await harness.ConnectRawAsync();
        await stuck.WriteAsync($"{{\"command\":\"terminal.attach\",\"args\":{{\"user\":\"{Me}\"}}}}\n");
        Assert.Equal("attached", (await stuck.ReadJsonAsync()).GetProperty("result").GetProperty("type").GetString());

        // The healthy one reads everything.
        await using var healthy = await harness.ConnectAsync();
        healthy.ReadTimeout = TimeSpan.FromSeconds(30);
        var received = 0;
        var attached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(async () =>
        {
            await foreach (var line in healthy.SendAsync(TerminalControlCommands.Attach, Args(Me), Ct))
            {
                if (Read(line).Type == "attached") attached.SetResult();
                else Interlocked.Increment(ref received);
            }
        }, Ct);
        await attached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(2, sink.AttachmentCount(Me));

        var big = new TerminalMessage(SmtpAddress.Null, null, new string('x', 64 * 1024));
        var sent = 0;
        var slowest = TimeSpan.Zero;
        while (sink.AttachmentCount(Me) == 2 && sent < 500)
        {
            var watch = Stopwatch.StartNew();
            Assert.True(await sink.DeliverAsync(Me, big, Ct));
            sent++;
            if (watch.Elapsed > slowest) slowest = watch.Elapsed;
        }
        Assert.Equal(1, sink.AttachmentCount(Me));
        // Bounded by the send timeout (with slack for a loaded machine), not by the stuck client.
        Assert.True(slowest < TimeSpan.FromSeconds(5), $"a delivery took {slowest}");
        await WaitUntilAsync(() => Volatile.Read(ref received) == sent);
        Assert.True(await sink.IsActiveAsync(Me, Ct));
    }

    [Fact]
    public async Task Another_user_cannot_attach_as_root_without_a_token_but_may_as_itself()
    {
        Assert.SkipWhen(UnprivilegedClient.SkipReason() is { } reason, UnprivilegedClient.SkipReason() ?? "");
        var (sink, handler) = Create();
        await using var harness = await new ControlHarness(extra: [handler]).StartAsync();
        UnprivilegedClient.MakeReachable(harness.DataDirectory);
        var nobody = UnixUsers.NameOf(UnprivilegedClient.NobodyUid);
        Assert.SkipWhen(nobody is null, "uid 65534 has no user name here");

        var refused = JsonDocument.Parse(Assert.Single((await UnprivilegedClient.RunAsync(harness.SocketPath,
            "{\"command\":\"terminal.attach\",\"args\":{\"user\":\"root\"}}"))[0])).RootElement;
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal(ControlErrorCodes.Forbidden, refused.GetProperty("code").GetString());
        Assert.Equal($"{nobody} may not attach as root: only root may attach as another user; or use --token", refused.GetProperty("error").GetString());

        var self = JsonDocument.Parse(Assert.Single((await UnprivilegedClient.RunAsync(harness.SocketPath, "{\"command\":\"terminal.attach\"}"))[0])).RootElement;
        Assert.True(self.GetProperty("ok").GetBoolean());
        Assert.Equal(nobody, self.GetProperty("result").GetProperty("user").GetString());

        var withToken = JsonDocument.Parse(Assert.Single((await UnprivilegedClient.RunAsync(harness.SocketPath,
            $"{{\"command\":\"terminal.attach\",\"args\":{{\"user\":\"alice\",\"token\":\"{AliceToken}\"}}}}"))[0])).RootElement;
        Assert.Equal("alice", withToken.GetProperty("result").GetProperty("user").GetString());
        await WaitUntilAsync(() => sink.AttachmentCount("alice") == 0 && sink.AttachmentCount(nobody!) == 0);
    }

    // Authorize, with peers the kernel would report for other users.
    private static TerminalAttachCommand Authorizer(MtaOptions? options = null) =>
        new(Create().Sink, options ?? Options(), NullLogger<TerminalAttachCommand>.Instance,
            uid => uid switch { 0 => "root", 1000 => "Carol", 1001 => "dave", _ => null });

    private static PeerCredentials Uid(uint uid) => new(1234, uid, uid);

    [Fact]
    public void A_peer_attaches_as_exactly_its_own_login_name()
    {
        var auth = Authorizer();
        Assert.Equal("dave", auth.Authorize(Uid(1001), null, null));
        Assert.Equal("dave", auth.Authorize(Uid(1001), "dave", null));
        Assert.Equal("dave", auth.Authorize(Uid(1001), " dave ", null));
        Assert.Equal("root", auth.Authorize(Uid(0), null, null));
        // The name is compared as the passwd database spells it, never case-folded.
        foreach (var folded in new[] { "Dave", "DAVE" })
            Assert.Equal("dave may not attach as " + folded + ": only root may attach as another user; or use --token",
                Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1001), folded, null)).Message);
    }

    [Fact]
    public void A_login_name_that_folds_onto_another_account_does_not_attach_by_uid()
    {
        // Two accounts whose names differ only in case: each uid maps to its own name, and neither takes the other's mailbox.
        var auth = new TerminalAttachCommand(Create().Sink, Options(), NullLogger<TerminalAttachCommand>.Instance,
            uid => uid switch { 0 => "root", 1002 => "bob", 1003 => "Bob", 1000 => "Carol", _ => null });
        Assert.Equal("bob", auth.Authorize(Uid(1002), null, null));
        Assert.Equal("bob", auth.Authorize(Uid(1002), "bob", null));
        Assert.Equal(ControlErrorCodes.Forbidden, Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1002), "Bob", null)).Code);
        foreach (var requested in new string?[] { null, "Bob", "bob", "BOB" })
        {
            var ex = Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1003), requested, null));
            Assert.Equal(ControlErrorCodes.Forbidden, ex.Code);
        }
        Assert.Equal("the login name Bob is not a mailbox name as it stands (mailbox names are lower case, and bob may be another account); use --token",
            Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1003), null, null)).Message);
        Assert.StartsWith("Carol may not attach as carol", Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1000), "carol", null)).Message);
        // Root still attaches anyone, by name; a token still attaches its own user.
        Assert.Equal("bob", auth.Authorize(Uid(0), "Bob", null));
        Assert.Equal("alice", auth.Authorize(Uid(1003), "alice", AliceToken));
    }

    [Fact]
    public void Root_may_attach_as_anyone_and_nobody_else_may()
    {
        var auth = Authorizer();
        Assert.Equal("dave", auth.Authorize(Uid(0), "dave", null));
        var ex = Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1000), "dave", null));
        Assert.Equal(ControlErrorCodes.Forbidden, ex.Code);
        Assert.Equal("Carol may not attach as dave: only root may attach as another user; or use --token", ex.Message);
        ex = Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1000), "root", null));
        Assert.Equal(ControlErrorCodes.Forbidden, ex.Code);
    }

    [Fact]
    public void A_peer_without_a_name_or_without_credentials_needs_a_token()
    {
        var auth = Authorizer();
        Assert.Equal("uid 4242 has no user name; give USER and --token",
            Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(4242), null, null)).Message);
        Assert.StartsWith("uid 4242 may not attach as carol",
            Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(4242), "carol", null)).Message);
        Assert.StartsWith("cannot tell who you are",
            Assert.Throws<ControlCommandException>(() => auth.Authorize(null, null, null)).Message);
        Assert.StartsWith("cannot attach as carol",
            Assert.Throws<ControlCommandException>(() => auth.Authorize(null, "carol", null)).Message);
        Assert.Equal("alice", auth.Authorize(null, "alice", AliceToken));
        Assert.Equal("alice", auth.Authorize(Uid(4242), "ALICE", AliceToken));
    }

    [Fact]
    public void A_given_token_is_always_checked_even_for_root()
    {
        var auth = Authorizer();
        Assert.Equal(ControlErrorCodes.Forbidden, Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(0), "alice", "wrong-token-value-xx")).Code);
        Assert.Equal(ControlErrorCodes.Forbidden, Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(0), "alice", AliceToken + "x")).Code);
        Assert.Equal(ControlErrorCodes.Forbidden, Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(0), "alice", "")).Code);
        // Without a user, the token is for the peer's own name.
        Assert.Equal("the token is not valid for Carol", Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(1000), null, AliceToken)).Message);
    }

    [Fact]
    public void Only_usable_names_and_when_the_list_is_closed_only_mailbox_users_can_be_attached_as()
    {
        var auth = Authorizer();
        foreach (var bad in new[] { "../etc", ".hidden", "a b", "x\u001b[2J", new string('a', 65) })
            Assert.Equal(ControlErrorCodes.BadRequest, Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(0), bad, null)).Code);
        var printed = Assert.Throws<ControlCommandException>(() => auth.Authorize(Uid(0), "x\u001b[2J", null)).Message;
        Assert.DoesNotContain('\u001b', printed);

        var options = Options();
        options.Mailboxes.Users = ["carol", "alice"];
        var closed = Authorizer(options);
        Assert.Equal("carol", closed.Authorize(Uid(0), "carol", null));
        Assert.Equal("dave is not a mailbox user on this server",
            Assert.Throws<ControlCommandException>(() => closed.Authorize(Uid(1001), null, null)).Message);
    }
}
