// `mta queue list|show|flush|delete` as a process: exit 3 and a clear message without a server, usage errors exit 2,
// and the mailq-style output against a control server (in this process, over a fake queue) on the configured data directory.
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class QueueCommandTests : IAsyncDisposable
{
    private static readonly DateTimeOffset Arrival = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-queue-" + Guid.NewGuid().ToString("n")[..12]);
    private readonly string _config;
    private ControlServer? _server;

    public QueueCommandTests() => _config = MtaProcess.WriteConfig(_data);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync(CancellationToken.None);
            _server.Dispose();
        }
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private string SocketPath => Path.Combine(_data, "control.sock");

    private string NoServerMessage => $"mta: no running server (no control socket at {SocketPath}); start it with 'mta run'";

    [Theory]
    [InlineData("list")]
    [InlineData("list", "--json")]
    [InlineData("show", "4Xq2AAAA")]
    [InlineData("flush")]
    [InlineData("delete", "4Xq2AAAA")]
    public async Task Without_a_running_server_every_command_exits_3_with_a_clear_message(params string[] args)
    {
        var (code, output) = await MtaProcess.RunToEndAsync(["queue", .. args, "--config", _config]);
        Assert.True(code == 3, $"exit {code}: {output}");
        Assert.Equal(NoServerMessage, output.Trim());
    }

    [Fact]
    public async Task A_socket_file_left_by_a_dead_server_is_no_running_server_either()
    {
        // Renamed into place, because .NET removes a bound socket's file when the socket is disposed.
        using (var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            dead.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(SocketPath + ".tmp"));
            File.Move(SocketPath + ".tmp", SocketPath);
        }
        var (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", _config);
        Assert.True(code == 3, $"exit {code}: {output}");
        Assert.Contains(NoServerMessage, output);
    }

    [Theory]
    [InlineData("queue", "show")]
    [InlineData("queue", "delete")]
    [InlineData("queue", "list", "--frobnicate")]
    [InlineData("queue", "flush", "A", "B")]
    public async Task Bad_usage_exits_2(params string[] args)
    {
        var (code, output) = await MtaProcess.RunToEndAsync([.. args, "--config", _config]);
        Assert.True(code == 2, $"exit {code}: {output}");
    }

    [Fact]
    public async Task A_bad_configuration_exits_2()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", Path.Combine(_data, "missing.json"));
        Assert.Equal(2, code);
        Assert.Contains("file not found", output);
    }

    private async Task<FakeQueue> StartServerAsync()
    {
        var queue = new FakeQueue();
        _server = new ControlServer(new MtaPaths(new MtaOptions { DataDirectory = _data }),
            [new QueueListCommand(queue), new QueueShowCommand(queue), new QueueFlushCommand(queue), new QueueDeleteCommand(queue)],
            NullLogger<ControlServer>.Instance);
        await _server.StartAsync(TestContext.Current.CancellationToken);
        return queue;
    }

    private static string Date(DateTimeOffset time) => time.ToLocalTime().ToString("ddd MMM dd HH:mm:ss", CultureInfo.InvariantCulture);

    [Fact]
    public async Task List_prints_the_queue_as_mailq_does()
    {
        var queue = await StartServerAsync();
        var (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Equal("Mail queue is empty", output.Trim());

        queue.Add(new QueueEntrySnapshot("4Xq2AAAA", Arrival, 1500, "alice@example.test",
        [
            new RecipientSnapshot("bob@remote.test", QueueRecipientState.Deferred, 2, Arrival.AddMinutes(30), "connect to mx.remote.test[192.0.2.1]:25: Connection refused"),
            new RecipientSnapshot("carol@example.test", QueueRecipientState.Delivered, 0, null, null),
        ]), "Subject: a\r\n\r\nbody\r\n");
        queue.Add(new QueueEntrySnapshot("4Xq2BBBB", Arrival.AddHours(1), 2000, "", [new RecipientSnapshot("alice@remote.test", QueueRecipientState.Ready, 0, null, null)]), "x");

        (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", _config);
        Assert.True(code == 0, output);
        var lines = output.Replace("\r", "").Split('\n');
        Assert.StartsWith("-Queue ID-", lines[0]);
        Assert.Equal($"4Xq2AAAA        1500  {Date(Arrival)}  alice@example.test", lines[1]);
        Assert.Equal($"    bob@remote.test  deferred, 2 attempts, next {Date(Arrival.AddMinutes(30))}", lines[2]);
        Assert.Equal("        (connect to mx.remote.test[192.0.2.1]:25: Connection refused)", lines[3]);
        Assert.Equal("", lines[4]);   // carol is delivered: not listed
        Assert.Equal($"4Xq2BBBB        2000  {Date(Arrival.AddHours(1))}  MAILER-DAEMON", lines[5]);
        Assert.Equal("    alice@remote.test  ready, 0 attempts", lines[6]);
        Assert.Equal("", lines[7]);
        Assert.Equal("-- 4 KiB in 2 messages.", lines[8]);

        (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--json", "--config", _config);
        Assert.True(code == 0, output);
        var json = output.Trim().Split('\n');
        Assert.Equal(2, json.Length);
        Assert.StartsWith("{\"queueId\":\"4Xq2AAAA\"", json[0]);
        Assert.Contains("\"state\":\"delivered\"", json[0]);
    }

    [Fact]
    public async Task Show_prints_the_envelope_then_the_message()
    {
        var queue = await StartServerAsync();
        var body = string.Concat(Enumerable.Range(0, 2000).Select(i => $"line {i}\r\n"));
        queue.Add(new QueueEntrySnapshot("4Xq2AAAA", Arrival, 1500, "alice@example.test",
        [
            new RecipientSnapshot("bob@remote.test", QueueRecipientState.Deferred, 2, Arrival.AddMinutes(30), "451 4.7.1 greylisted"),
            new RecipientSnapshot("carol@example.test", QueueRecipientState.Delivered, 0, null, null),
        ]), "Subject: hello\r\n\r\n" + body);

        var (code, output) = await MtaProcess.RunToEndAsync("queue", "show", "4Xq2AAAA", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("Queue ID:   4Xq2AAAA", output);
        Assert.Contains("Sender:     alice@example.test", output);
        Assert.Contains($"Recipient:  bob@remote.test  deferred, 2 attempts, next {Date(Arrival.AddMinutes(30))}", output);
        Assert.Contains("(451 4.7.1 greylisted)", output);
        Assert.Contains("Recipient:  carol@example.test  delivered, 0 attempts", output);
        Assert.Contains("Subject: hello", output);
        Assert.Contains("line 0", output);
        Assert.DoesNotContain("line 1999", output);
        Assert.Contains("--full", output);

        (code, output) = await MtaProcess.RunToEndAsync("queue", "show", "4Xq2AAAA", "--full", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("line 1999", output);
        Assert.DoesNotContain("--full", output);

        (code, output) = await MtaProcess.RunToEndAsync("queue", "show", "NOPE", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("mta: no such message: NOPE", output);
    }

    [Fact]
    public async Task Flush_and_delete_report_what_they_did()
    {
        var queue = await StartServerAsync();
        queue.Add(new QueueEntrySnapshot("4Xq2AAAA", Arrival, 1500, "alice@example.test",
            [new RecipientSnapshot("bob@remote.test", QueueRecipientState.Deferred, 1, Arrival, "x"), new RecipientSnapshot("eve@remote.test", QueueRecipientState.Deferred, 1, Arrival, "x")]), "x");

        var (code, output) = await MtaProcess.RunToEndAsync("queue", "flush", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("2 recipients scheduled for delivery now", output);
        (code, output) = await MtaProcess.RunToEndAsync("queue", "flush", "--domain", "remote.test", "--config", _config);
        Assert.True(code == 0, output);
        (code, output) = await MtaProcess.RunToEndAsync("queue", "flush", "NOPE", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("no such message: NOPE", output);
        Assert.Equal([(null, null), (null, "remote.test")], queue.Flushes);

        (code, output) = await MtaProcess.RunToEndAsync("queue", "delete", "4Xq2AAAA", "NOPE", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("4Xq2AAAA: deleted 2 recipients", output);
        Assert.Contains("NOPE: no such message", output);
        (code, output) = await MtaProcess.RunToEndAsync("queue", "list", "--config", _config);
        Assert.Contains("Mail queue is empty", output);
    }

    // A queue with only what the commands read and do.
    private sealed class FakeQueue : IQueueAdministration
    {
        private readonly List<(QueueEntrySnapshot Entry, byte[] Message)> _messages = [];

        public List<(string?, string?)> Flushes { get; } = [];

        public void Add(QueueEntrySnapshot entry, string message)
        {
            lock (_messages) _messages.Add((entry, Encoding.ASCII.GetBytes(message)));
        }

        public IReadOnlyList<QueueEntrySnapshot> List()
        {
            lock (_messages) return _messages.Select(m => m.Entry).ToList();
        }

        public QueueEntrySnapshot? Find(string queueId)
        {
            lock (_messages) return _messages.FirstOrDefault(m => m.Entry.QueueId == queueId).Entry;
        }

        public Stream? OpenMessage(string queueId)
        {
            lock (_messages) return _messages.FirstOrDefault(m => m.Entry.QueueId == queueId).Message is { } bytes ? new MemoryStream(bytes) : null;
        }

        public int Flush(string? queueId = null, string? domain = null)
        {
            lock (_messages)
            {
                Flushes.Add((queueId, domain));
                return _messages.Sum(m => m.Entry.Recipients.Count(r => r.State == QueueRecipientState.Deferred));
            }
        }

        public Task<int> DeleteAsync(string queueId, CancellationToken cancellationToken)
        {
            lock (_messages)
            {
                var index = _messages.FindIndex(m => m.Entry.QueueId == queueId);
                if (index < 0) return Task.FromResult(0);
                var count = _messages[index].Entry.Recipients.Count(r => r.State.IsPending());
                _messages.RemoveAt(index);
                return Task.FromResult(count);
            }
        }

        public QueuePage Search(QueueQuery query, int offset, int limit)
        {
            var all = List();
            return new QueuePage(all.Count, all.Skip(offset).Take(limit).ToList());
        }

        public Task<int> HoldAsync(string queueId, CancellationToken cancellationToken) => Task.FromResult(Move(queueId, QueueRecipientState.Held));

        public Task<int> ReleaseAsync(string queueId, CancellationToken cancellationToken) => Task.FromResult(Move(queueId, QueueRecipientState.Ready));

        private int Move(string queueId, QueueRecipientState to)
        {
            lock (_messages)
            {
                var index = _messages.FindIndex(m => m.Entry.QueueId == queueId);
                if (index < 0) return 0;
                var (entry, message) = _messages[index];
                var moving = entry.Recipients.Count(r => r.State.IsPending() && r.State != to);
                _messages[index] = (entry with { Recipients = entry.Recipients.Select(r => r.State.IsPending() ? r with { State = to } : r).ToList() }, message);
                return moving;
            }
        }
    }
}
