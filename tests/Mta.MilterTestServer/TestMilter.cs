// The test milter's server: accepts milter connections, answers each command as its options say, records what came.
using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Mta.Protocol.Milter;

namespace Mta.MilterTestServer;

/// <summary>One command the milter received, with the macros sent for it.</summary>
/// <param name="Connection">Which connection (1 the first), so one session's commands can be told from the next's.</param>
/// <param name="Command">CONNECT, HELO, MAIL, RCPT, DATA, HEADER, EOH, BODY, EOM, ABORT, QUIT, UNKNOWN, OPTNEG.</param>
/// <param name="Arguments">Its strings: HELO name, MAIL/RCPT arguments, header name and value, connect host, family,
/// port and address, body length, negotiation version/actions/protocol in hex.</param>
/// <param name="Macros">The macros of the SMFIC_MACRO packet for this command, if any.</param>
public sealed record ReceivedCommand(int Connection, string Command, string[] Arguments, Dictionary<string, string> Macros);

/// <summary>A milter for tests, speaking the real protocol over a real socket.</summary>
public sealed class TestMilter : IAsyncDisposable
{
    private readonly TestMilterOptions _options;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ReceivedCommand> _received = new();
    private readonly Lock _recordGate = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _connectionCount;

    private readonly MilterActions? _negotiatedActions;

    private TestMilter(TestMilterOptions options, Socket listener, string address, MilterActions? negotiatedActions)
    {
        _negotiatedActions = negotiatedActions;
        _options = options;
        _listener = listener;
        Address = address;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>The address it listens on, in the form Mta's <c>Milters:Definitions:*:Address</c> takes.</summary>
    public string Address { get; }

    /// <summary>Every command received so far, in order.</summary>
    public IReadOnlyList<ReceivedCommand> Received => [.. _received];

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connectionCount);

    /// <param name="options">What it does.</param>
    /// <param name="negotiatedActions">Overrides the actions it negotiates (to test an MTA's refusal of changes never
    /// negotiated); null: those its changes need.</param>
    public static TestMilter Start(TestMilterOptions options, MilterActions? negotiatedActions = null)
    {
        Socket socket;
        string address;
        if (options.Listen.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = options.Listen[5..];
            if (File.Exists(path)) File.Delete(path);
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            address = "unix:" + path;
        }
        else
        {
            var rest = options.Listen[(options.Listen.IndexOf(':') + 1)..];
            var colon = rest.LastIndexOf(':');
            var ip = IPAddress.Parse(rest[..colon].Trim('[', ']'));
            socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(ip, int.Parse(rest[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
            var bound = (IPEndPoint)socket.LocalEndPoint!;
            address = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"inet6:[{bound.Address}]:{bound.Port}" : $"inet:{bound.Address}:{bound.Port}";
        }
        socket.Listen(512);
        return new TestMilter(options, socket, address, negotiatedActions);
    }

    /// <summary>Waits (bounded) until a command named <paramref name="command"/> has come <paramref name="count"/> times.</summary>
    public async Task<ReceivedCommand[]> WaitForAsync(string command, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var found = _received.Where(r => r.Command == command).ToArray();
            if (found.Length >= count) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{found.Length} of {count} {command} commands received");
            await Task.Delay(10);
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            var id = Interlocked.Increment(ref _connectionCount);
            lock (_connections) _connections.Add(ServeAsync(client, id));
        }
    }

    private async Task ServeAsync(Socket socket, int connection)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var input = PipeReader.Create(stream);
        var output = PipeWriter.Create(stream);
        var state = new ConnectionState(connection);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(_stop.Token);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = MilterReader.TryReadPacket(ref buffer, out var code, out var data);
                    if (status == MilterReadStatus.Invalid) return;
                    if (status == MilterReadStatus.Incomplete) break;
                    // Decoded at once: the packet is a slice of the pipe's buffer, valid until it advances.
                    var (reply, closeAfter) = Handle(state, code, data);
                    if (reply is not null)
                    {
                        await reply(output, _stop.Token);
                        await output.FlushAsync(_stop.Token);
                    }
                    if (closeAfter)
                    {
                        input.AdvanceTo(buffer.Start);
                        return;
                    }
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException or MilterProtocolException)
        {
            // The MTA went away, or we are stopping.
        }
    }

    private sealed class ConnectionState(int id)
    {
        public int Id { get; } = id;
        public Dictionary<byte, Dictionary<string, string>> Macros { get; } = [];
        public MilterProtocolFlags Protocol { get; set; }
        public long BodyLength { get; set; }
        /// <summary>A MAIL or RCPT argument of this transaction contained <c>--only</c>'s text.</summary>
        public bool Matched { get; set; }
    }

    private delegate ValueTask Reply(PipeWriter output, CancellationToken cancellationToken);

    private (Reply? Reply, bool Close) Handle(ConnectionState state, byte code, ReadOnlySequence<byte> data)
    {
        switch (code)
        {
            case MilterCommand.OptionNegotiation:
                var offered = MilterReader.ReadNegotiation(data);
                var version = Math.Min(offered.Version, _options.Version);
                state.Protocol = _options.Protocol & offered.Protocol;
                Record(state, "OPTNEG", [offered.Version.ToString(), $"{(uint)offered.Actions:x}", $"{(uint)offered.Protocol:x}"], null);
                var actions = _negotiatedActions ?? _options.NegotiatedActions;
                var symbols = _options.Macros.ToArray();
                var protocol = state.Protocol;
                return ((w, _) =>
                {
                    MilterWriter.OptionNegotiationReply(w, version, actions, protocol, symbols);
                    return ValueTask.CompletedTask;
                }, false);
            case MilterCommand.Macro:
                var (forCommand, pairs) = MilterReader.ReadMacros(data);
                state.Macros[forCommand] = pairs.ToDictionary(p => p.Key, p => p.Value);
                return (null, false);
            case MilterCommand.Abort:
                Record(state, "ABORT", [], code);
                state.BodyLength = 0;
                state.Matched = false;
                return (null, false);
            case MilterCommand.Quit:
                Record(state, "QUIT", [], code);
                return (null, true);
            case MilterCommand.QuitNewConnection:
                Record(state, "QUIT_NC", [], code);
                return (null, false);
        }
        var (name, stage, arguments, noReply) = code switch
        {
            MilterCommand.Connect => ("CONNECT", "connect", ConnectArguments(data), MilterProtocolFlags.NoReplyConnect),
            MilterCommand.Helo => ("HELO", "helo", MilterReader.ReadStrings(data), MilterProtocolFlags.NoReplyHelo),
            MilterCommand.Mail => ("MAIL", "mail", MilterReader.ReadStrings(data), MilterProtocolFlags.NoReplyMail),
            MilterCommand.Rcpt => ("RCPT", "rcpt", MilterReader.ReadStrings(data), MilterProtocolFlags.NoReplyRcpt),
            MilterCommand.Data => ("DATA", "data", [], MilterProtocolFlags.NoReplyData),
            MilterCommand.Header => ("HEADER", "header", MilterReader.ReadStrings(data), MilterProtocolFlags.NoReplyHeader),
            MilterCommand.EndOfHeaders => ("EOH", "eoh", [], MilterProtocolFlags.NoReplyEndOfHeaders),
            MilterCommand.Body => ("BODY", "body", [data.Length.ToString()], MilterProtocolFlags.NoReplyBody),
            MilterCommand.EndOfMessage => ("EOM", "eom", [state.BodyLength.ToString()], MilterProtocolFlags.None),
            MilterCommand.Unknown => ("UNKNOWN", "unknown", MilterReader.ReadStrings(data), MilterProtocolFlags.NoReplyUnknown),
            _ => ("?" + (char)code, "?", Array.Empty<string>(), MilterProtocolFlags.None),
        };
        if (code == MilterCommand.Body) state.BodyLength += data.Length;
        Record(state, name, arguments, code);
        if (code == MilterCommand.EndOfMessage) state.BodyLength = 0;
        if (noReply != MilterProtocolFlags.None && (state.Protocol & noReply) != 0) return (null, false);
        var action = _options.Actions.TryGetValue(stage, out var configured) ? configured : "continue";
        if (_options.Only is { } only)
        {
            var matches = arguments.Any(a => a.Contains(only, StringComparison.OrdinalIgnoreCase));
            if (stage is "mail" or "rcpt" && matches) state.Matched = true;
            // At HELO, MAIL and RCPT the argument itself must match; later, any of the transaction's.
            if (stage is "helo" or "mail" or "rcpt" ? !matches : stage != "connect" && stage != "unknown" && !state.Matched) action = "continue";
            if (code == MilterCommand.EndOfMessage) state.Matched = false;
        }
        var isEom = code == MilterCommand.EndOfMessage;
        return (async (w, ct) =>
        {
            if (isEom) WriteChanges(w);
            await WriteDecisionAsync(w, action, ct);
        }, action is "shutdown" or "connfail");
    }

    private static string[] ConnectArguments(ReadOnlySequence<byte> data)
    {
        var c = MilterReader.ReadConnect(data);
        return [c.HostName, ((char)c.Family).ToString(), c.Port.ToString(), c.Address];
    }

    private void WriteChanges(PipeWriter w)
    {
        foreach (var (code, values, index) in _options.Changes)
        {
            switch (code)
            {
                case MilterReplyCode.InsertHeader or MilterReplyCode.ChangeHeader:
                    MilterWriter.IndexedHeader(w, code, index, values[0], values[1]);
                    break;
                case MilterReplyCode.ReplaceBody:
                    var body = System.Text.Encoding.UTF8.GetBytes(values[0]);
                    // In chunks, as libmilter's smfi_replacebody sends a large body.
                    for (var at = 0; at < body.Length || at == 0; at += MilterLimits.BodyChunk)
                        MilterWriter.Raw(w, code, body.AsSpan(at, Math.Min(MilterLimits.BodyChunk, body.Length - at)));
                    break;
                default:
                    MilterWriter.Strings(w, code, values);
                    break;
            }
        }
    }

    private static async ValueTask WriteDecisionAsync(PipeWriter w, string action, CancellationToken cancellationToken)
    {
        var colon = action.IndexOf(':');
        var verb = colon < 0 ? action : action[..colon];
        var argument = colon < 0 ? "" : action[(colon + 1)..];
        switch (verb)
        {
            case "continue": MilterWriter.Empty(w, MilterReplyCode.Continue); break;
            case "accept": MilterWriter.Empty(w, MilterReplyCode.Accept); break;
            case "reject": MilterWriter.Empty(w, MilterReplyCode.Reject); break;
            case "tempfail": MilterWriter.Empty(w, MilterReplyCode.TempFail); break;
            case "discard": MilterWriter.Empty(w, MilterReplyCode.Discard); break;
            case "shutdown": MilterWriter.Empty(w, MilterReplyCode.Shutdown); break;
            case "connfail": MilterWriter.Empty(w, MilterReplyCode.ConnectionFailure); break;
            case "skip": MilterWriter.Empty(w, MilterReplyCode.Skip); break;
            case "reply": MilterWriter.Strings(w, MilterReplyCode.ReplyCode, argument.Replace("\\r\\n", "\r\n")); break;
            case "sleep":
                await Task.Delay(int.Parse(argument), cancellationToken);
                MilterWriter.Empty(w, MilterReplyCode.Continue);
                break;
            case "progress":
                var until = DateTime.UtcNow.AddMilliseconds(int.Parse(argument));
                while (DateTime.UtcNow < until)
                {
                    MilterWriter.Empty(w, MilterReplyCode.Progress);
                    await w.FlushAsync(cancellationToken);
                    await Task.Delay(100, cancellationToken);
                }
                MilterWriter.Empty(w, MilterReplyCode.Continue);
                break;
            default: throw new FormatException("unknown action " + action);
        }
    }

    private void Record(ConnectionState state, string command, string[] arguments, byte? code)
    {
        var macros = code is { } c && state.Macros.Remove(c, out var m) ? m : [];
        var received = new ReceivedCommand(state.Id, command, arguments, macros);
        _received.Enqueue(received);
        if (_options.RecordFile is not { } file) return;
        var line = JsonSerializer.Serialize(received) + "\n";
        lock (_recordGate) File.AppendAllText(file, line);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        Task[] connections;
        lock (_connections) connections = [.. _connections];
        try { await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (TimeoutException) { }
        if (_options.Listen.StartsWith("unix:", StringComparison.Ordinal)) File.Delete(_options.Listen[5..]);
        _stop.Dispose();
    }
}
