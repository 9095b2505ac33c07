// The per-message trail on a real `mta run`: a grep (text) or a jq select (json) on one queue id shows the message's
// whole life: received, each attempt with relay, delay and dsn, the deferral's next attempt, the DSN with its own id,
// and the removal from the queue. Also: an exception's stack stays on its event's one line in every format.
using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class MessageTrailTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-trail-" + Guid.NewGuid().ToString("n")[..12]);

    private string WriteConfig(string format, int peerPort, object? scripts = null)
    {
        var extra = new Dictionary<string, object?>
        {
            ["Logging"] = new Dictionary<string, object?>
            {
                ["Format"] = format,
                ["LogLevel"] = new Dictionary<string, string> { ["Default"] = "Information" },
            },
            ["Relay"] = new
            {
                TrustedNetworks = new[] { "127.0.0.0/8" },
                Routes = new Dictionary<string, object> { ["remote.test"] = new { Host = "[127.0.0.1]", Port = peerPort, Tls = "None" } },
            },
        };
        if (scripts is not null) extra["Scripts"] = scripts;
        return MtaProcess.WriteConfig(_root, extra: extra);
    }

    /// <summary>The ids of the three messages of a run: one deferred then delivered, one bounced, and the bounce's DSN.</summary>
    private sealed record Run(string Deferred, string Bounced, string Dsn);

    /// <summary>
    /// Sends bob@remote.test (the peer says 451 until the flush) and carol@remote.test (550), waits for the deferral
    /// and the bounce, flushes the first one by id and waits until the queue let go of all three messages.
    /// </summary>
    private static async Task<Run> RunAsync(MtaProcess server, int port, TestSmtpServer peer, string config, Func<string, string?, bool> logged)
    {
        var greylisting = true;
        peer.Options.RcptReply = address => address.StartsWith("carol@", StringComparison.Ordinal) ? "550 5.1.1 <carol@remote.test>: no such user"
            : Volatile.Read(ref greylisting) ? "451 4.7.1 greylisted, try again later" : null;

        string deferred, bounced;
        await using (var c = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
        {
            await SmtpAssert.EhloAsync(c, "client.trail.test");
            deferred = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"],
                "Subject: later\r\n\r\nx\r\n"), 250).Lines[^1]);
            bounced = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["carol@remote.test"],
                "Subject: never\r\n\r\ny\r\n"), 250).Lines[^1]);
            await c.CommandAsync("QUIT");
        }

        await WaitAsync(server, () => logged(deferred, "result=deferred") && logged(bounced, "removed from the queue"));
        Volatile.Write(ref greylisting, false);
        var (code, output) = await MtaProcess.RunToEndAsync("queue", "flush", deferred, "--config", config);
        Assert.True(code == 0, output);
        await WaitAsync(server, () => logged(deferred, "removed from the queue"));

        var dsn = Regex.Match(server.Output, Regex.Escape(bounced) + @": sender non-delivery notification: (\w+)").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(dsn), server.Output);
        await WaitAsync(server, () => logged(dsn, "removed from the queue"));
        return new Run(deferred, bounced, dsn);
    }

    [Fact]
    public async Task Json_trail_selected_by_QueueId_shows_receive_each_attempt_the_dsn_and_the_removal()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions());
        var config = WriteConfig("json", peer.Port);
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await WaitForJsonListenerAsync(server);

        var run = await RunAsync(server, port, peer, config,
            (id, text) => Lines(server).Any(e => Str(e, "QueueId") == id && (text is null || Str(e, "message")!.Contains(text, StringComparison.Ordinal))));
        server.Terminate();
        await server.WaitForExitAsync(Bound);
        var all = Lines(server);

        // What `jq 'select(.QueueId=="ID")'` shows, in order.
        var trail = all.Where(e => Str(e, "QueueId") == run.Deferred).ToList();
        var events = trail.Select(e => Int(e, "eventId")).ToList();
        var receive = Single(trail, 202);
        Assert.Equal("unknown[127.0.0.1]", Str(receive, "Client"));
        Assert.Equal("<alice@example.test>", Str(receive, "Sender"));
        Assert.Equal(1, Int(receive, "Count"));
        Assert.True(Int(receive, "Size") > 0);
        Assert.Equal("queued", Str(receive, "Result"));

        var deferral = Single(trail, 401);
        Assert.Equal("bob@remote.test", Str(deferral, "Recipient"));
        Assert.Equal("remote", Str(deferral, "RouteKind"));
        // The route of remote.test names its next hop.
        Assert.Equal($"[127.0.0.1]:{peer.Port}", Str(deferral, "RouteTarget"));
        Assert.Contains("127.0.0.1", Str(deferral, "Relay"));
        Assert.Equal("4.7.1", Str(deferral, "Dsn"));
        Assert.Equal("deferred", Str(deferral, "Result"));
        Assert.Contains("greylisted", Str(deferral, "Detail"));
        Assert.Equal(JsonValueKind.Number, deferral.GetProperty("Delay").ValueKind);
        Assert.True(DateTimeOffset.TryParse(Str(deferral, "NextAttempt"), out _), deferral.ToString());

        var delivery = Single(trail, 400);
        Assert.Equal("bob@remote.test", Str(delivery, "Recipient"));
        Assert.Equal("remote", Str(delivery, "RouteKind"));
        Assert.Contains("127.0.0.1", Str(delivery, "Relay"));
        Assert.Equal("2.0.0", Str(delivery, "Dsn"));
        Assert.Equal("delivered", Str(delivery, "Result"));
        Assert.Contains("250 2.0.0", Str(delivery, "Detail"));

        var removed = Single(trail, 1710);
        Assert.Equal(1, Int(removed, "Delivered"));
        Assert.Equal(0, Int(removed, "Bounced"));
        // Received, deferred, (the operator's flush), delivered, removed: in the order they happened.
        Assert.True(events.IndexOf(202) < events.IndexOf(401) && events.IndexOf(401) < events.IndexOf(400) && events.IndexOf(400) < events.IndexOf(1710),
            string.Join(",", events));
        Assert.Contains(410, events);

        var bounceTrail = all.Where(e => Str(e, "QueueId") == run.Bounced).ToList();
        Single(bounceTrail, 202);
        var bounce = Single(bounceTrail, 402);
        Assert.Equal("carol@remote.test", Str(bounce, "Recipient"));
        Assert.Equal("5.1.1", Str(bounce, "Dsn"));
        Assert.Equal("bounced", Str(bounce, "Result"));
        Assert.Contains("no such user", Str(bounce, "Detail"));
        var notification = Single(bounceTrail, 420);
        Assert.Equal(run.Dsn, Str(notification, "DsnQueueId"));
        Assert.Equal(1, Int(Single(bounceTrail, 1710), "Bounced"));

        // The DSN's own trail: made inside the server, delivered to alice's mailbox, removed.
        var dsnTrail = all.Where(e => Str(e, "QueueId") == run.Dsn).ToList();
        Assert.Equal("<>", Str(Single(dsnTrail, 520), "ReversePath"));
        var dsnDelivery = Single(dsnTrail, 400);
        Assert.Equal("alice@example.test", Str(dsnDelivery, "Recipient"));
        Assert.Equal("mailbox", Str(dsnDelivery, "RouteKind"));
        Assert.Equal("mailbox", Str(dsnDelivery, "Relay"));
        Single(dsnTrail, 1710);
    }

    [Fact]
    public async Task Text_trail_grepped_by_queue_id_shows_receive_each_attempt_the_dsn_and_the_removal()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions());
        var config = WriteConfig("text", peer.Port);
        // A locale that writes 0,21 for 0.21: the log is written in the invariant culture whatever the machine's.
        await using var server = MtaProcess.StartWith(new Dictionary<string, string?> { ["LC_ALL"] = "de_DE.UTF-8", ["LANG"] = "de_DE.UTF-8" },
            "run", "--config", config);
        var port = await server.WaitForListenerAsync();

        var run = await RunAsync(server, port, peer, config, (id, text) => Grep(server, id).Any(l => text is null || l.Contains(text, StringComparison.Ordinal)));
        server.Terminate();
        await server.WaitForExitAsync(Bound);

        // What `grep ID` shows.
        var trail = Grep(server, run.Deferred);
        Assert.Matches(@"session=\S+ id=" + run.Deferred + @" client=unknown\[127\.0\.0\.1\] from=<alice@example\.test> nrcpt=1 to=<bob@remote\.test> size=\d+ .*result=queued",
            Find(trail, "id=" + run.Deferred));
        Assert.Matches(run.Deferred + @": to=<bob@remote\.test> route=remote:\S+ relay=\S*127\.0\.0\.1\S* delay=[\d.]+ dsn=4\.7\.1 result=deferred \(.*greylisted.*\), next attempt \d{4}-",
            Find(trail, "result=deferred"));
        Assert.Matches(run.Deferred + @": to=<bob@remote\.test> route=remote:\S+ relay=\S*127\.0\.0\.1\S* delay=[\d.]+ dsn=2\.0\.0 result=delivered",
            Find(trail, "result=delivered"));
        Assert.Contains(run.Deferred + ": removed from the queue: delivered=1 bounced=0 deleted=0", Find(trail, "removed"));
        Assert.True(IndexOf(trail, "result=deferred") < IndexOf(trail, "result=delivered") && IndexOf(trail, "result=delivered") < IndexOf(trail, "removed"),
            string.Join("\n", trail));

        var bounceTrail = Grep(server, run.Bounced);
        Find(bounceTrail, "id=" + run.Bounced);
        Assert.Matches(run.Bounced + @": to=<carol@remote\.test> route=remote:\S+ relay=\S+ delay=[\d.]+ dsn=5\.1\.1 result=bounced \(.*no such user",
            Find(bounceTrail, "result=bounced"));
        Assert.Contains(run.Bounced + ": sender non-delivery notification: " + run.Dsn, Find(bounceTrail, "non-delivery"));
        Assert.Contains("delivered=0 bounced=1", Find(bounceTrail, "removed"));

        // The bounce's grep names the DSN's id; grepping that shows the DSN's own trail.
        var dsnTrail = Grep(server, run.Dsn);
        Assert.Contains(run.Dsn + ": submitted from inside the server, from=<>", Find(dsnTrail, "submitted"));
        Assert.Matches(run.Dsn + @": to=<alice@example\.test> route=mailbox:\S+ relay=mailbox delay=[\d.]+ dsn=2\.0\.0 result=delivered", Find(dsnTrail, "result=delivered"));
        Find(dsnTrail, "removed");
    }

    [Theory]
    [InlineData("json")]
    [InlineData("systemd")]
    [InlineData("text")]
    public async Task An_exception_and_its_stack_stay_on_the_one_line_of_their_event(string format)
    {
        var scripts = Path.Combine(_root, "scripts");
        Directory.CreateDirectory(scripts);
        File.WriteAllText(Path.Combine(scripts, "10-throws.csx"),
            "HookResult Fail() => throw new InvalidOperationException(\"first line\\nsecond line\");\nOn<MailContext>(ctx => Fail());\n");
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions());
        var config = WriteConfig(format, peer.Port, new { Directory = scripts, Cache = false, Watch = false });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = format == "json" ? await WaitForJsonListenerAsync(server) : await server.WaitForListenerAsync();

        await using (var c = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
        {
            await SmtpAssert.EhloAsync(c);
            Assert.Equal(451, (await c.CommandAsync("MAIL FROM:<a@example.test>")).Code);
            await c.CommandAsync("QUIT");
        }
        await WaitAsync(server, () => server.Output.Contains("second line", StringComparison.Ordinal));
        server.Terminate();
        await server.WaitForExitAsync(Bound);

        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var failure = Assert.Single(lines, l => l.Contains("InvalidOperationException", StringComparison.Ordinal));
        // The message, both lines of the exception's text and its stack, on the one line.
        Assert.Contains("first line", failure);
        Assert.Contains("second line", failure);
        Assert.Contains(" at ", failure);
        foreach (var line in lines)
        {
            switch (format)
            {
                case "json":
                    using (var document = JsonDocument.Parse(line)) Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
                    break;
                case "systemd":
                    Assert.Matches(@"^<[0-7]>", line);
                    break;
                default:
                    Assert.Matches(@"^\d{4}-\d\d-\d\dT\S+ \w+: ", line);
                    break;
            }
        }
        if (format == "json")
        {
            using var document = JsonDocument.Parse(failure);
            Assert.Equal(100, document.RootElement.GetProperty("eventId").GetInt32());
            Assert.Contains("second line", document.RootElement.GetProperty("exception").GetString());
        }
        if (format == "systemd") Assert.StartsWith("<3>", failure);
    }

    [Fact]
    public async Task An_expired_message_s_trail_shows_each_deferral_the_expiry_the_dsn_and_the_removal()
    {
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RcptReply = _ => "450 4.2.1 try later" });
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        var log = new TrailLog();
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Relay.TrustedNetworks = ["127.0.0.0/8"];
            o.Relay.Routes["remote.test"] = new NextHopOptions { Host = "[127.0.0.1]", Port = peer.Port, Tls = OutboundTlsPolicy.None };
            o.Relay.Resilience.ConnectRetryDelay = TimeSpan.Zero;
            o.Queue.MaxLifetime = TimeSpan.FromHours(3);
        }, time: time, services: s => s.AddLogging(b => b.AddProvider(log).AddFilter<TrailLog>(null, LogLevel.Information)));
        var queue = server.Services.GetRequiredService<QueueScheduler>();

        string id;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            id = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@remote.test"], "Subject: doomed\r\n\r\nx\r\n"), 250).Lines[^1]);
        }
        await queue.WaitForIdleAsync(Bound, TestContext.Current.CancellationToken);
        for (var i = 0; i < 40 && queue.PendingRecipients > 0; i++)
        {
            time.Advance(TimeSpan.FromMinutes(10));
            await queue.WaitForIdleAsync(Bound, TestContext.Current.CancellationToken);
        }
        Assert.Equal(0, queue.PendingRecipients);

        var trail = log.Of(id);
        var deferrals = trail.Where(l => l.EventId == 401).ToList();
        Assert.True(deferrals.Count >= 2, string.Join("\n", trail.Select(l => l.Message)));
        Assert.All(deferrals, d => Assert.Equal("4.2.1", d.Fields["Dsn"]));
        var expiry = Assert.Single(trail, l => l.EventId == 402);
        Assert.Equal("4.4.7", expiry.Fields["Dsn"]);
        Assert.Equal("bounced", expiry.Fields["Result"]);
        Assert.Contains("expired after", (string)expiry.Fields["Detail"]!);
        // Three hours and more in the queue.
        Assert.True((double)expiry.Fields["Delay"]! >= 3 * 3600, expiry.Message);
        var dsn = (string)Assert.Single(trail, l => l.EventId == 420).Fields["DsnQueueId"]!;
        Assert.Contains("removed from the queue: delivered=0 bounced=1", Assert.Single(trail, l => l.EventId == 1710).Message);
        Assert.Equal(trail.Count - 1, trail.FindIndex(l => l.EventId == 1710));
        await server.WaitForMailAsync("alice");
        Assert.Contains(log.Of(dsn), l => l.EventId == 400);
    }

    [Fact]
    public async Task A_delivery_hook_that_throws_is_in_the_message_s_trail()
    {
        var scripts = Path.Combine(_root, "scripts");
        Directory.CreateDirectory(scripts);
        File.WriteAllText(Path.Combine(scripts, "10-observer.csx"),
            "HookResult Fail() => throw new InvalidOperationException(\"observer broke\");\nOn<DeliveredContext>(ctx => Fail());\n");
        await using var peer = await TestSmtpServer.StartAsync(new TestSmtpServerOptions());
        var config = WriteConfig("json", peer.Port, new { Directory = scripts, Cache = false, Watch = false });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await WaitForJsonListenerAsync(server);

        string id;
        await using (var c = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
        {
            await SmtpAssert.EhloAsync(c);
            id = SmtpAssert.QueueIdOf(SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: x\r\n\r\nx\r\n"), 250).Lines[^1]);
            await c.CommandAsync("QUIT");
        }
        await WaitAsync(server, () => Lines(server).Any(e => Str(e, "QueueId") == id && Int(e, "eventId") == 1710));
        server.Terminate();
        await server.WaitForExitAsync(Bound);

        var trail = Lines(server).Where(e => Str(e, "QueueId") == id).ToList();
        var failure = Single(trail, 100);
        Assert.Equal("DeliveredContext", Str(failure, "Hook"));
        Assert.Equal("-", Str(failure, "SessionId"));
        Assert.Contains("observer broke", Str(failure, "exception"));
        // An observer's failure changes nothing: delivered all the same.
        Assert.Equal("delivered", Str(Single(trail, 400), "Result"));
    }

    [Theory]
    [InlineData("json")]
    [InlineData("systemd")]
    public async Task A_start_up_error_of_several_lines_keeps_to_the_log_format(string format)
    {
        var scripts = Path.Combine(_root, "scripts");
        Directory.CreateDirectory(scripts);
        // Two compile errors: the start-up error names each on a line of its own.
        File.WriteAllText(Path.Combine(scripts, "10-broken.csx"), "int x = \"one\";\nint y = \"two\";\n");
        var config = WriteConfig(format, 9, new { Directory = scripts, Cache = false, Watch = false });
        await using var server = MtaProcess.Start("run", "--config", config);
        await server.WaitForExitAsync(Bound);

        Assert.True(server.ExitCode == 1, server.Output);
        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("10-broken.csx(1,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("10-broken.csx(2,", StringComparison.Ordinal));
        foreach (var line in lines)
        {
            if (format == "systemd") Assert.Matches(@"^<[0-7]>", line);
            else using (var document = JsonDocument.Parse(line)) Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
        if (format == "systemd") Assert.Contains(lines, l => l.StartsWith("<3>", StringComparison.Ordinal) && l.Contains("10-broken.csx(2,", StringComparison.Ordinal));
    }

    /// <summary>The engine's log lines with their structured fields, as the json format writes them.</summary>
    private sealed class TrailLog : ILoggerProvider
    {
        public sealed record Line(int EventId, string Message, IReadOnlyDictionary<string, object?> Fields);

        private readonly ConcurrentQueue<Line> _lines = new();

        /// <summary>What <c>jq 'select(.QueueId=="ID")'</c> would show.</summary>
        public List<Line> Of(string queueId) => _lines.Where(l => l.Fields.TryGetValue("QueueId", out var v) && v as string == queueId).ToList();

        public ILogger CreateLogger(string categoryName) => new Logger(_lines);

        public void Dispose() { }

        private sealed class Logger(ConcurrentQueue<Line> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var fields = state is IReadOnlyList<KeyValuePair<string, object?>> list ? list.ToDictionary(p => p.Key, p => p.Value) : [];
                lines.Enqueue(new Line(eventId.Id, formatter(state, exception), fields));
            }
        }
    }

    private static List<JsonElement> Lines(MtaProcess server)
    {
        var list = new List<JsonElement>();
        foreach (var line in server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.StartsWith('{')) continue;
            using var document = JsonDocument.Parse(line);
            list.Add(document.RootElement.Clone());
        }
        return list;
    }

    private static List<string> Grep(MtaProcess server, string id) =>
        server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains(id, StringComparison.Ordinal)).ToList();

    private static string Find(List<string> trail, string text) =>
        trail.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) ?? throw new Xunit.Sdk.XunitException($"no '{text}' in:\n" + string.Join("\n", trail));

    private static int IndexOf(List<string> trail, string text) => trail.FindIndex(l => l.Contains(text, StringComparison.Ordinal));

    private static JsonElement Single(List<JsonElement> trail, int eventId)
    {
        var matches = trail.Where(e => Int(e, "eventId") == eventId).ToList();
        Assert.True(matches.Count == 1, $"{matches.Count} lines with event {eventId} in:\n" + string.Join("\n", trail));
        return matches[0];
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;

    private static async Task<int> WaitForJsonListenerAsync(MtaProcess server)
    {
        JsonElement? listener = null;
        await WaitAsync(server, () => (listener = Lines(server).FirstOrDefault(e => Int(e, "eventId") == 250)) is { ValueKind: JsonValueKind.Object });
        return int.Parse(Regex.Match(Str(listener!.Value, "message")!, @":(\d+)$").Groups[1].Value);
    }

    private static async Task WaitAsync(MtaProcess server, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!done())
        {
            if (server.HasExited || DateTime.UtcNow > deadline) throw new TimeoutException("not logged in time:\n" + server.Output);
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
