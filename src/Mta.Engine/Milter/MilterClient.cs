// One SMTP session's connection to one milter: connect, negotiate, send each stage with its macros, read the replies.
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Mta.Engine.Configuration;
using Mta.Protocol.Milter;

namespace Mta.Engine.Milter;

/// <summary>Why a milter's answer is its default action.</summary>
internal enum MilterFailure { Unavailable, TimedOut, ProtocolError }

/// <summary>
/// The MTA side of the milter protocol for one milter and one SMTP session, as Postfix's milter8.c: it opens the
/// socket at connect and negotiates (version, actions, protocol steps, macro lists), then sends each stage the milter
/// wants, preceded by its macros, and waits for a reply only where the milter negotiated one. Its state follows
/// Postfix's: a milter that accepted or refused at connect or HELO gets nothing more; one that accepted a message
/// gets nothing more of that message; one that failed answers with its default action for the rest of the session.
/// </summary>
internal sealed class MilterClient : IAsyncDisposable
{
    /// <summary>Postfix's stage macros (milter_*_macros in postconf.proto), used unless the milter names its own.</summary>
    private static readonly string[][] DefaultMacros =
    [
        ["j", "{daemon_name}", "{daemon_addr}", "v", "_"],
        ["{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"],
        ["i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"],
        ["i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"],
        ["i"],
        ["i"],
        ["i"],
    ];

    private enum State { Closed, Ready, Envelope, AcceptConnection, RejectConnection, AcceptMessage, Error }

    private readonly MilterDefinition _definition;
    private readonly MilterAddress _address;
    private readonly Func<string, string?> _macro;
    private readonly Action<MilterClient, MilterFailure, string> _failed;
    private State _state = State.Closed;
    private string? _stickyReply;
    private byte _skip;
    private Socket? _socket;
    private NetworkStream? _stream;
    private PipeReader? _input;
    private PipeWriter? _output;
    private MilterProtocolFlags _steps;
    private MilterProtocolFlags _notInProtocol;
    private string[][] _macros = DefaultMacros;
    private bool _closeAfterReply;
    // A MAIL went out and no abort closed its transaction yet.
    private bool _inTransaction;

    /// <param name="name">The milter's name in the configuration.</param>
    /// <param name="definition">Its address, timeouts and default action.</param>
    /// <param name="address">The parsed address.</param>
    /// <param name="macro">The session's value of a macro, or null when it has none (then it is not sent).</param>
    /// <param name="failed">Told of every failure before the default action applies, to log it.</param>
    public MilterClient(string name, MilterDefinition definition, MilterAddress address, Func<string, string?> macro,
        Action<MilterClient, MilterFailure, string> failed)
    {
        Name = name;
        _definition = definition;
        _address = address;
        _macro = macro;
        _failed = failed;
    }

    public string Name { get; }

    /// <summary>The default action configured, for logs.</summary>
    public MilterDefaultAction DefaultAction => _definition.DefaultAction;

    /// <summary>The changes the milter negotiated; a change it did not negotiate is refused.</summary>
    public MilterActions Actions { get; private set; }

    /// <summary>The protocol version the milter speaks.</summary>
    public uint Version { get; private set; }

    /// <summary>The protocol steps negotiated.</summary>
    public MilterProtocolFlags Steps => _steps;

    /// <summary>Connects and negotiates; a failure becomes the default action for the session.</summary>
    public async ValueTask OpenAsync(CancellationToken cancellationToken)
    {
        if (_state != State.Closed) return;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_definition.ConnectTimeout);
            _socket = _address.SocketPath is { } path
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(_address.Family == AddressFamily.InterNetworkV6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (_address.SocketPath is { } socketPath) await _socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token).ConfigureAwait(false);
                else await ConnectTcpAsync(_socket, _address, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Fail(MilterFailure.TimedOut, $"no connection within {_definition.ConnectTimeout.TotalSeconds:0.###} s");
                return;
            }
            if (_socket.ProtocolType == ProtocolType.Tcp) _socket.NoDelay = true;
            _stream = new NetworkStream(_socket, ownsSocket: true);
            _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
            _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
            var version = (uint)_definition.Protocol;
            var offered = version switch
            {
                2 => MilterProtocolFlags.Version2,
                3 => MilterProtocolFlags.Version3,
                4 => MilterProtocolFlags.Version4,
                _ => MilterProtocolFlags.Version6,
            };
            _notInProtocol = (MilterProtocolFlags.Version4 | MilterProtocolFlags.NoUnknown) & ~offered;
            MilterWriter.OptionNegotiation(_output, version, MilterActions.All, offered);
            var negotiation = await ReadNegotiationAsync(cancellationToken).ConfigureAwait(false);
            if (negotiation is null) return;
            if (negotiation.Version > version || negotiation.Version < 2)
            {
                Fail(MilterFailure.ProtocolError, $"protocol version {negotiation.Version} conflicts with the {version} offered");
                return;
            }
            if ((negotiation.Actions & ~MilterActions.All) != 0)
            {
                Fail(MilterFailure.ProtocolError, $"asks for actions 0x{(uint)negotiation.Actions:x} beyond those offered");
                return;
            }
            Version = negotiation.Version;
            Actions = negotiation.Actions;
            _steps = negotiation.Protocol;
            // A milter of an older version than offered gets only the stages its version knows (Postfix does the same).
            _notInProtocol |= negotiation.Version switch
            {
                2 => MilterProtocolFlags.NoUnknown | MilterProtocolFlags.NoData,
                3 => MilterProtocolFlags.NoData,
                _ => MilterProtocolFlags.None,
            };
            if (negotiation.Symbols.Count > 0)
            {
                _macros = (string[][])DefaultMacros.Clone();
                foreach (var (stage, list) in negotiation.Symbols)
                    _macros[(int)stage] = list.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
            }
            _state = State.Ready;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            Fail(MilterFailure.Unavailable, ex.Message);
        }
    }

    private static async ValueTask ConnectTcpAsync(Socket socket, MilterAddress address, CancellationToken cancellationToken)
    {
        if (System.Net.IPAddress.TryParse(address.Host, out var ip))
            await socket.ConnectAsync(ip, address.Port, cancellationToken).ConfigureAwait(false);
        else
            await socket.ConnectAsync(address.Host!, address.Port, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<MilterNegotiation?> ReadNegotiationAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_definition.CommandTimeout);
        try
        {
            await _output!.FlushAsync(timeout.Token).ConfigureAwait(false);
            var input = _input!;
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = MilterReader.TryReadPacket(ref buffer, out var code, out var data);
                if (status == MilterReadStatus.Complete)
                {
                    var negotiation = code == MilterCommand.OptionNegotiation ? MilterReader.ReadNegotiation(data) : null;
                    input.AdvanceTo(buffer.Start);
                    if (negotiation is null) Fail(MilterFailure.ProtocolError, $"'{(char)code}' instead of the negotiation reply");
                    return negotiation;
                }
                if (status == MilterReadStatus.Invalid)
                {
                    Fail(MilterFailure.ProtocolError, "bad packet length in the negotiation reply");
                    return null;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    Fail(MilterFailure.Unavailable, "closed the connection during negotiation");
                    return null;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Fail(MilterFailure.TimedOut, $"no negotiation reply within {_definition.CommandTimeout.TotalSeconds:0.###} s");
            return null;
        }
        catch (MilterProtocolException ex)
        {
            Fail(MilterFailure.ProtocolError, ex.Message);
            return null;
        }
    }

    /// <summary>SMFIC_CONNECT: the client's name, family, port and address.</summary>
    public ValueTask<MilterAnswer> ConnectAsync(string hostName, byte family, ushort port, string address, CancellationToken cancellationToken)
    {
        if (_state == State.Error) return ValueTask.FromResult(Sticky());
        if (_state != State.Ready) return ValueTask.FromResult(MilterAnswer.Continue);
        _state = State.Envelope;
        return EventAsync(MilterCommand.Connect, MilterProtocolFlags.NoConnect, MilterProtocolFlags.NoReplyConnect, MilterMacroStage.Connect,
            (hostName, family, port, address), static (w, s) => MilterWriter.Connect(w, s.hostName, s.family, s.port, s.address),
            _definition.CommandTimeout, null, cancellationToken);
    }

    /// <summary>SMFIC_HELO.</summary>
    public ValueTask<MilterAnswer> HeloAsync(string name, CancellationToken cancellationToken) =>
        !InSession(messageAccepted: true, out var answer) ? ValueTask.FromResult(answer)
        : EventAsync(MilterCommand.Helo, MilterProtocolFlags.NoHelo, MilterProtocolFlags.NoReplyHelo, MilterMacroStage.Helo,
            name, static (w, s) => MilterWriter.Strings(w, MilterCommand.Helo, s), _definition.CommandTimeout, null, cancellationToken);

    /// <summary>SMFIC_MAIL: the reverse-path in angle brackets, then each ESMTP parameter.</summary>
    public ValueTask<MilterAnswer> MailAsync(string[] arguments, CancellationToken cancellationToken)
    {
        if (!InSession(messageAccepted: true, out var answer)) return ValueTask.FromResult(answer);
        _inTransaction = true;
        return EventAsync(MilterCommand.Mail, MilterProtocolFlags.NoMail, MilterProtocolFlags.NoReplyMail, MilterMacroStage.Mail,
            arguments, static (w, s) => MilterWriter.Strings(w, MilterCommand.Mail, s), _definition.CommandTimeout, null, cancellationToken);
    }

    /// <summary>SMFIC_RCPT: the forward-path in angle brackets, then each ESMTP parameter.</summary>
    public ValueTask<MilterAnswer> RcptAsync(string[] arguments, CancellationToken cancellationToken) =>
        !InSession(messageAccepted: false, out var answer) ? ValueTask.FromResult(answer)
        : EventAsync(MilterCommand.Rcpt, MilterProtocolFlags.NoRcpt, MilterProtocolFlags.NoReplyRcpt, MilterMacroStage.Rcpt,
            arguments, static (w, s) => MilterWriter.Strings(w, MilterCommand.Rcpt, s), _definition.CommandTimeout, null, cancellationToken);

    /// <summary>SMFIC_RCPT for a recipient the server refused, to a milter that negotiated SMFIP_RCPT_REJ (Postfix
    /// sends them so, and ignores the answer: the recipient is refused already).</summary>
    public ValueTask<MilterAnswer> RejectedRcptAsync(string[] arguments, CancellationToken cancellationToken) =>
        (_steps & MilterProtocolFlags.RejectedRecipients) == 0 ? ValueTask.FromResult(MilterAnswer.Continue) : RcptAsync(arguments, cancellationToken);

    /// <summary>SMFIC_DATA.</summary>
    public ValueTask<MilterAnswer> DataAsync(CancellationToken cancellationToken) =>
        !InSession(messageAccepted: false, out var answer) ? ValueTask.FromResult(answer)
        : EventAsync(MilterCommand.Data, MilterProtocolFlags.NoData, MilterProtocolFlags.NoReplyData, MilterMacroStage.Data,
            0, static (w, _) => MilterWriter.Empty(w, MilterCommand.Data), _definition.CommandTimeout, null, cancellationToken);

    /// <summary>SMFIC_UNKNOWN: a command the server does not know, as the client sent it.</summary>
    public ValueTask<MilterAnswer> UnknownAsync(string line, CancellationToken cancellationToken) =>
        !InSession(messageAccepted: false, out var answer) ? ValueTask.FromResult(answer)
        : EventAsync(MilterCommand.Unknown, MilterProtocolFlags.NoUnknown, MilterProtocolFlags.NoReplyUnknown, null,
            line, static (w, s) => MilterWriter.Strings(w, MilterCommand.Unknown, s), _definition.CommandTimeout, null, cancellationToken);

    /// <summary>
    /// The message: each header (name, value), the end of headers, the body in chunks of at most 64 KiB, and the end of
    /// message, whose reply may be preceded by changes (added to <paramref name="changes"/>). Each read has
    /// <c>EndOfMessageTimeout</c>.
    /// </summary>
    public async ValueTask<MilterAnswer> MessageAsync(IReadOnlyList<KeyValuePair<string, string>> headers, Func<Stream> openBody,
        List<MilterChange> changes, CancellationToken cancellationToken)
    {
        if (!InSession(messageAccepted: false, out var answer)) return answer;
        var timeout = _definition.EndOfMessageTimeout;
        try
        {
            var leadingSpace = (_steps & MilterProtocolFlags.HeaderLeadingSpace) != 0;
            foreach (var (name, value) in headers)
            {
                answer = await EventAsync(MilterCommand.Header, MilterProtocolFlags.NoHeaders, MilterProtocolFlags.NoReplyHeader, MilterMacroStage.EndOfHeaders,
                    (name, leadingSpace ? value : value.StartsWith(' ') ? value[1..] : value),
                    static (w, s) => MilterWriter.Strings(w, MilterCommand.Header, s.name, s.Item2), timeout, null, cancellationToken).ConfigureAwait(false);
                if (answer.Verdict != MilterVerdict.Continue || _state != State.Envelope) return answer;
                // SMFIR_SKIP after a header: no more headers.
                if (_skip == MilterCommand.Header) break;
            }
            answer = await EventAsync(MilterCommand.EndOfHeaders, MilterProtocolFlags.NoEndOfHeaders, MilterProtocolFlags.NoReplyEndOfHeaders, MilterMacroStage.EndOfHeaders,
                0, static (w, _) => MilterWriter.Empty(w, MilterCommand.EndOfHeaders), timeout, null, cancellationToken).ConfigureAwait(false);
            if (answer.Verdict != MilterVerdict.Continue || _state != State.Envelope) return answer;
            if ((_steps & MilterProtocolFlags.NoBody) == 0 && (_notInProtocol & MilterProtocolFlags.NoBody) == 0)
            {
                var chunk = ArrayPool<byte>.Shared.Rent(MilterLimits.BodyChunk);
                try
                {
                    await using var body = openBody();
                    while (_skip != MilterCommand.Body)
                    {
                        var read = await body.ReadAtLeastAsync(chunk.AsMemory(0, MilterLimits.BodyChunk), MilterLimits.BodyChunk, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                        if (read == 0) break;
                        answer = await EventAsync(MilterCommand.Body, MilterProtocolFlags.NoBody, MilterProtocolFlags.NoReplyBody, MilterMacroStage.EndOfMessage,
                            new ReadOnlyMemory<byte>(chunk, 0, read), static (w, s) => MilterWriter.Raw(w, MilterCommand.Body, s.Span), timeout, null, cancellationToken).ConfigureAwait(false);
                        if (answer.Verdict != MilterVerdict.Continue || _state != State.Envelope) return answer;
                        if (read < MilterLimits.BodyChunk) break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }
            }
            _skip = 0;
            return await EventAsync(MilterCommand.EndOfMessage, MilterProtocolFlags.None, MilterProtocolFlags.None, MilterMacroStage.EndOfMessage,
                0, static (w, _) => MilterWriter.Empty(w, MilterCommand.EndOfMessage), timeout, changes, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Whatever the outcome, the next message starts in the envelope state (libmilter resets itself after EOM).
            if (_state is State.AcceptMessage) _state = State.Envelope;
            _skip = 0;
        }
    }

    /// <summary>SMFIC_ABORT: the transaction ended without a message (RSET, a new HELO, a refused DATA) or after one.
    /// No reply comes; the packet is buffered and goes out with the next one.</summary>
    public void Abort()
    {
        if (!_inTransaction) return;
        _inTransaction = false;
        if (_state is State.Envelope or State.AcceptMessage && _output is not null)
        {
            MilterWriter.Empty(_output, MilterCommand.Abort);
            _state = State.Envelope;
        }
    }

    /// <summary>SMFIC_QUIT and close: the session ends.</summary>
    public async ValueTask QuitAsync()
    {
        if (_output is not null && _state is State.Envelope or State.AcceptMessage or State.Ready)
        {
            try
            {
                MilterWriter.Empty(_output, MilterCommand.Quit);
                using var timeout = new CancellationTokenSource(_definition.CommandTimeout);
                await _output.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The milter went first; nothing is lost.
            }
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        var stream = _stream;
        var input = _input;
        var output = _output;
        _stream = null;
        _input = null;
        _output = null;
        if (_state is not State.Error and not State.RejectConnection) _state = State.Closed;
        // Completed first, so their pooled buffers go back; the stream is closed right after, whatever they say.
        try
        {
            if (input is not null) await input.CompleteAsync().ConfigureAwait(false);
            if (output is not null) await output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
        if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
        _socket?.Dispose();
        _socket = null;
    }

    /// <summary>False (with the answer to give) when the milter takes no more events of this kind.</summary>
    private bool InSession(bool messageAccepted, out MilterAnswer answer)
    {
        answer = MilterAnswer.Continue;
        switch (_state)
        {
            case State.Error or State.RejectConnection:
                answer = Sticky();
                return false;
            case State.Envelope:
                return true;
            case State.AcceptMessage:
                return messageAccepted;
            default:
                return false;
        }
    }

    private MilterAnswer Sticky() => _stickyReply is { } reply
        ? new MilterAnswer(reply.StartsWith("421", StringComparison.Ordinal) ? MilterVerdict.Shutdown : MilterVerdict.Refuse, reply, _state == State.Error)
        : new MilterAnswer(MilterVerdict.Continue, null, _state == State.Error);

    /// <summary>
    /// Sends one stage: its macros (even when the stage itself is not wanted, as Postfix), then the command unless the
    /// milter asked not to get it, then reads replies unless it negotiated none: progress restarts the timeout, changes
    /// are collected (end of message only), the first decision ends the stage.
    /// </summary>
    private async ValueTask<MilterAnswer> EventAsync<TState>(byte command, MilterProtocolFlags noSend, MilterProtocolFlags noReply, MilterMacroStage? macroStage,
        TState state, Action<IBufferWriter<byte>, TState> write, TimeSpan timeout, List<MilterChange>? changes, CancellationToken cancellationToken)
    {
        if ((noSend & _notInProtocol) != 0) return MilterAnswer.Continue;
        if (_skip != 0)
        {
            if (_skip == command) return MilterAnswer.Continue;
            _skip = 0;
        }
        var output = _output!;
        if (macroStage is { } stage) WriteMacros(output, command, _macros[(int)stage]);
        if ((noSend & _steps) != 0) return MilterAnswer.Continue;
        write(output, state);
        var expectReply = (noReply & _steps) == 0 || noReply == MilterProtocolFlags.None;
        // No reply awaited (SMFIP_NR_*): the packet waits in the buffer and goes out with the next one that is, as
        // Postfix sends a run of headers in one write.
        if (!expectReply && output.CanGetUnflushedBytes && output.UnflushedBytes < MilterLimits.BodyChunk) return MilterAnswer.Continue;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(timeout);
        try
        {
            await output.FlushAsync(budget.Token).ConfigureAwait(false);
            if (!expectReply) return MilterAnswer.Continue;
            var answer = await ReadReplyAsync(command, budget, timeout, changes, cancellationToken).ConfigureAwait(false);
            if (_closeAfterReply)
            {
                // libmilter closes its side after these replies; ours is closed once the reply has been read.
                _closeAfterReply = false;
                await DisposeAsync().ConfigureAwait(false);
            }
            return answer;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Fail(MilterFailure.TimedOut, $"no reply to {Describe(command)} within {timeout.TotalSeconds:0.###} s");
        }
        catch (MilterProtocolException ex)
        {
            return Fail(MilterFailure.ProtocolError, $"{ex.Message} in the reply to {Describe(command)}");
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return Fail(MilterFailure.Unavailable, $"{ex.Message} at {Describe(command)}");
        }
    }

    private void WriteMacros(PipeWriter output, byte command, string[] names)
    {
        if (names.Length == 0) return;
        List<KeyValuePair<string, string>>? pairs = null;
        foreach (var name in names)
        {
            // Named with or without braces ("{daemon_name}" or "daemon_name" for a long name), as libmilter allows.
            var key = name.Length > 1 && name[0] != '{' ? "{" + name + "}" : name;
            if (_macro(key) is { } value) (pairs ??= new(names.Length)).Add(new(key, value));
        }
        if (pairs is not null) MilterWriter.Macros(output, command, pairs);
    }

    private async ValueTask<MilterAnswer> ReadReplyAsync(byte command, CancellationTokenSource budget, TimeSpan timeout, List<MilterChange>? changes,
        CancellationToken cancellationToken)
    {
        var input = _input!;
        List<byte[]>? body = null;
        while (true)
        {
            var result = await input.ReadAsync(budget.Token).ConfigureAwait(false);
            var buffer = result.Buffer;
            while (true)
            {
                var status = MilterReader.TryReadPacket(ref buffer, out var code, out var data);
                if (status == MilterReadStatus.Invalid)
                {
                    input.AdvanceTo(buffer.Start);
                    throw new MilterProtocolException("bad packet length");
                }
                if (status == MilterReadStatus.Incomplete) break;
                if (code == MilterReplyCode.Progress)
                {
                    budget.CancelAfter(timeout);
                    continue;
                }
                if (code == MilterReplyCode.ReplaceBody && command == MilterCommand.EndOfMessage && changes is not null)
                {
                    (body ??= []).Add(data.ToArray());
                    continue;
                }
                if (body is not null)
                {
                    changes!.Add(new MilterChange.ReplaceBody(Join(body)));
                    body = null;
                }
                var answer = Interpret(command, code, data, changes);
                if (answer is { } decided)
                {
                    input.AdvanceTo(buffer.Start);
                    return decided;
                }
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
                return Fail(MilterFailure.Unavailable, $"closed the connection before replying to {Describe(command)}");
        }
    }

    private static byte[] Join(List<byte[]> parts)
    {
        var all = new byte[parts.Sum(p => p.Length)];
        var at = 0;
        foreach (var part in parts)
        {
            part.CopyTo(all, at);
            at += part.Length;
        }
        return all;
    }

    /// <summary>One reply packet: a decision (returned), or a change or quarantine (collected; null returned).</summary>
    private MilterAnswer? Interpret(byte command, byte code, ReadOnlySequence<byte> data, List<MilterChange>? changes)
    {
        var connectStage = command is MilterCommand.Connect or MilterCommand.Helo;
        if (!data.IsEmpty && code is MilterReplyCode.Continue or MilterReplyCode.Accept or MilterReplyCode.Reject or MilterReplyCode.TempFail
            or MilterReplyCode.Discard or MilterReplyCode.Shutdown or MilterReplyCode.Skip)
            throw new MilterProtocolException($"reply '{(char)code}' followed by {data.Length} data octets");
        switch (code)
        {
            case MilterReplyCode.Continue:
                return MilterAnswer.Continue;
            case MilterReplyCode.Accept:
                if (connectStage)
                {
                    _state = State.AcceptConnection;
                    _closeAfterReply = true;
                }
                else
                {
                    _state = State.AcceptMessage;
                }
                return new MilterAnswer(MilterVerdict.Accept);
            case MilterReplyCode.Discard:
                if (connectStage) return MilterAnswer.Continue; // Not allowed at connect or HELO: ignored, as Postfix.
                _state = State.AcceptMessage;
                return new MilterAnswer(MilterVerdict.Discard);
            case MilterReplyCode.Reject:
                return Refuse(connectStage, "550 5.7.1 Command rejected");
            case MilterReplyCode.TempFail:
                return Refuse(connectStage, "451 4.7.1 Service unavailable - try again later");
            case MilterReplyCode.Shutdown or MilterReplyCode.ConnectionFailure:
                _state = State.RejectConnection;
                _stickyReply = "421 4.7.0 Server closing connection";
                _closeAfterReply = true;
                return new MilterAnswer(MilterVerdict.Shutdown, _stickyReply);
            case MilterReplyCode.ReplyCode:
                var text = MilterReader.ReadStrings(data).FirstOrDefault() ?? "";
                if (!IsValidReply(text)) throw new MilterProtocolException($"malformed reply code '{text}'");
                // Sendmail treats the text as a format string, so a milter doubles '%'; Postfix undoes it, so do we.
                return Refuse(connectStage, text.Replace("%%", "%"));
            case MilterReplyCode.Skip:
                _skip = command;
                return MilterAnswer.Continue;
        }
        if (command != MilterCommand.EndOfMessage || changes is null)
            throw new MilterProtocolException($"unexpected reply '{(char)code}' after {Describe(command)}");
        changes.Add(code switch
        {
            MilterReplyCode.Quarantine => new MilterChange.Quarantine(MilterReader.ReadStrings(data).FirstOrDefault() ?? ""),
            MilterReplyCode.AddHeader => Header(MilterReader.ReadStrings(data), (n, v) => new MilterChange.AddHeader(n, v)),
            MilterReplyCode.InsertHeader => Indexed(data, (i, n, v) => new MilterChange.InsertHeader(i, n, v)),
            MilterReplyCode.ChangeHeader => Indexed(data, (i, n, v) => new MilterChange.ChangeHeader(Math.Max(1, i), n, v)),
            MilterReplyCode.AddRecipient => new MilterChange.AddRecipient(MilterReader.ReadOneOrTwoStrings(data).First, null),
            MilterReplyCode.AddRecipientWithArgs => WithArguments(data, (a, args) => new MilterChange.AddRecipient(a, args)),
            MilterReplyCode.DeleteRecipient => new MilterChange.DeleteRecipient(MilterReader.ReadOneOrTwoStrings(data).First),
            MilterReplyCode.ChangeSender => WithArguments(data, (a, args) => new MilterChange.ChangeSender(a, args)),
            _ => throw new MilterProtocolException($"unknown reply '{(char)code}'"),
        });
        return null;

        static MilterChange WithArguments(ReadOnlySequence<byte> data, Func<string, string?, MilterChange> make)
        {
            var (address, arguments) = MilterReader.ReadOneOrTwoStrings(data);
            return make(address, arguments);
        }

        static MilterChange Header(string[] values, Func<string, string, MilterChange> make) =>
            values.Length >= 2 && values[0].Length > 0 ? make(values[0], values[1]) : throw new MilterProtocolException("header change without a name and value");

        static MilterChange Indexed(ReadOnlySequence<byte> data, Func<int, string, string, MilterChange> make)
        {
            var (index, name, value) = MilterReader.ReadIndexedHeader(data);
            if (name.Length == 0 || index > int.MaxValue) throw new MilterProtocolException("header change without a name, or with a bad index");
            return make((int)index, name, value);
        }
    }

    private MilterAnswer Refuse(bool connectStage, string reply)
    {
        if (connectStage)
        {
            // Refused at connect or HELO: every later command this milter would see gets the same answer (Postfix's
            // REJECT_CON), and libmilter has closed its side.
            _state = State.RejectConnection;
            _stickyReply = reply;
            _closeAfterReply = true;
        }
        return new MilterAnswer(reply.StartsWith("421", StringComparison.Ordinal) ? MilterVerdict.Shutdown : MilterVerdict.Refuse, reply);
    }

    /// <summary>A reply as SMTP needs it: every line starts with the same 4xx or 5xx code and a space or hyphen
    /// (Postfix's milter8_valid_smtp_reply).</summary>
    private static bool IsValidReply(string text)
    {
        if (text.Length < 3) return false;
        var lines = text.Split("\r\n");
        var code = text[..3];
        if (code[0] is not ('4' or '5') || !char.IsAsciiDigit(code[1]) || !char.IsAsciiDigit(code[2])) return false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (!line.StartsWith(code, StringComparison.Ordinal)) return false;
            if (line.Length > 3 && line[3] != (i == lines.Length - 1 ? ' ' : '-')) return false;
        }
        return true;
    }

    /// <summary>Closes the connection and gives the default action from now on (Postfix's milter8_comm_error).</summary>
    private MilterAnswer Fail(MilterFailure failure, string reason)
    {
        _failed(this, failure, reason);
        _stickyReply = _definition.DefaultAction switch
        {
            MilterDefaultAction.Accept => null,
            MilterDefaultAction.Reject => "550 5.5.0 Service unavailable",
            _ => "451 4.7.1 Service unavailable - try again later",
        };
        _ = DisposeAsync();
        _state = State.Error;
        return Sticky();
    }

    private static string Describe(byte command) => command switch
    {
        MilterCommand.Connect => "connect",
        MilterCommand.Helo => "HELO",
        MilterCommand.Mail => "MAIL",
        MilterCommand.Rcpt => "RCPT",
        MilterCommand.Data => "DATA",
        MilterCommand.Header => "a header",
        MilterCommand.EndOfHeaders => "the end of headers",
        MilterCommand.Body => "a body chunk",
        MilterCommand.EndOfMessage => "the end of message",
        MilterCommand.Unknown => "an unknown command",
        _ => "'" + (char)command + "'",
    };
}
