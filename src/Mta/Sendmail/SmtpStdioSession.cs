// sendmail -bs: a small SMTP session on standard input and output, in this process, each accepted message written to
// the maildrop; so it works with the server down, as Postfix's sendmail -bs does.
using System.Buffers;
using System.IO.Pipelines;
using Mta.Engine.Configuration;
using Mta.Engine.Pickup;
using Mta.Protocol;

namespace Mta.Sendmail;

/// <summary>
/// HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, parsed by <see cref="SmtpCommandParser"/> and answered with
/// <see cref="SmtpReply"/>. No AUTH, no TLS: the peer is the local user who ran the command, and the server decides the
/// envelope sender from the maildrop file's owner as for any local submission.
/// </summary>
internal sealed class SmtpStdioSession(MtaOptions options, MtaPaths paths, string user, Stream input, Stream output)
{
    // Each line of the message, CRLF included, at most the SMTP text-line limit with some slack for long headers.
    private const int MaxDataLine = 64 * 1024;
    // What ReadDataAsync returns for a message over the limit (compared by reference).
    private static readonly byte[] TooBig = [];

    private readonly PipeReader _in = PipeReader.Create(input);
    private readonly PipeWriter _out = PipeWriter.Create(output);
    private bool _extended;
    private bool _greeted;
    private string? _sender;
    private MailParameters? _mail;
    private readonly List<string> _recipients = [];
    private string? _notify;

    /// <summary>Runs until QUIT or end of input; 0, or EX_IOERR when the maildrop could not be written at all.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await ReplyAsync(new SmtpReply(220, null, $"{options.HostName} ESMTP Mta (sendmail -bs)"), cancellationToken);
        while (true)
        {
            var line = await ReadLineAsync(SmtpLimits.MaxCommandLine, cancellationToken);
            if (line is null) return SysExits.Ok;
            var parsed = SmtpCommandParser.Parse(line, new ParserOptions(_extended, Utf8Transaction: false));
            if (!parsed.IsSuccess)
            {
                await ReplyAsync(parsed.Error!, cancellationToken);
                continue;
            }
            switch (parsed.Command)
            {
                case HeloCommand:
                    Reset();
                    _greeted = true;
                    _extended = false;
                    await ReplyAsync(new SmtpReply(250, null, options.HostName), cancellationToken);
                    break;
                case EhloCommand:
                    Reset();
                    _greeted = _extended = true;
                    await ReplyAsync(new SmtpReply(250, null, options.HostName, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"), cancellationToken);
                    break;
                case MailCommand mail when mail.Verb == SmtpVerb.Mail:
                    if (!_greeted) await ReplyAsync(new SmtpReply(503, "5.5.1", "Error: send HELO/EHLO first"), cancellationToken);
                    else if (_sender is not null) await ReplyAsync(new SmtpReply(503, "5.5.1", "Error: nested MAIL command"), cancellationToken);
                    else
                    {
                        _sender = mail.ReversePath.IsNull ? "" : mail.ReversePath.ToString();
                        _mail = mail.Parameters;
                        await ReplyAsync(new SmtpReply(250, "2.1.0", "Ok"), cancellationToken);
                    }
                    break;
                case RcptCommand rcpt:
                    if (_sender is null) await ReplyAsync(new SmtpReply(503, "5.5.1", "Error: need MAIL command"), cancellationToken);
                    else
                    {
                        _recipients.Add(rcpt.ForwardPath.ToString());
                        if (rcpt.Parameters.Notify != Mta.Abstractions.DsnNotify.Default)
                            _notify = Mta.Protocol.Client.ClientCommands.FormatNotify(rcpt.Parameters.Notify);
                        await ReplyAsync(new SmtpReply(250, "2.1.5", "Ok"), cancellationToken);
                    }
                    break;
                case DataCommand:
                    if (_recipients.Count == 0)
                    {
                        await ReplyAsync(new SmtpReply(_sender is null ? 503 : 554, "5.5.1", _sender is null ? "Error: need MAIL command" : "Error: no valid recipients"), cancellationToken);
                        break;
                    }
                    await ReplyAsync(new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>"), cancellationToken);
                    var message = await ReadDataAsync(cancellationToken);
                    if (message is null) return SysExits.Ok; // input ended inside DATA: nothing accepted
                    await ReplyAsync(Accept(message), cancellationToken);
                    Reset();
                    break;
                case RsetCommand:
                    Reset();
                    await ReplyAsync(new SmtpReply(250, "2.0.0", "Ok"), cancellationToken);
                    break;
                case NoopCommand:
                    await ReplyAsync(new SmtpReply(250, "2.0.0", "Ok"), cancellationToken);
                    break;
                case QuitCommand:
                    await ReplyAsync(new SmtpReply(221, "2.0.0", "Bye"), cancellationToken);
                    return SysExits.Ok;
                default:
                    await ReplyAsync(new SmtpReply(502, "5.5.2", "Error: command not recognized"), cancellationToken);
                    break;
            }
        }
    }

    private SmtpReply Accept(byte[] message)
    {
        if (message is null || ReferenceEquals(message, TooBig))
            return new SmtpReply(552, "5.3.4", "Error: message file too big");
        var sender = _sender!;
        var from = sender.Length == 0 ? user + "@" + options.HostName : LocalMessage.Qualify(sender, options.HostName);
        var fixedUp = LocalMessage.FixUp(message, removeBcc: false, from, null, options.HostName, DateTimeOffset.Now);
        var ret = _mail?.Ret switch { DsnReturn.Full => "FULL", DsnReturn.Headers => "HDRS", _ => null };
        var envelope = new MaildropEnvelope(sender, _recipients.ToList(), ret, _mail?.EnvelopeId, _notify);
        var code = SendmailCommand.Drop(options, paths, envelope, fixedUp, out var name);
        return code == SysExits.Ok
            ? new SmtpReply(250, "2.0.0", $"Ok: queued in the maildrop as {name}")
            : new SmtpReply(451, "4.3.0", "Error: cannot write to the maildrop; see standard error");
    }

    private void Reset()
    {
        _sender = null;
        _mail = null;
        _notify = null;
        _recipients.Clear();
    }

    private async Task ReplyAsync(SmtpReply reply, CancellationToken cancellationToken)
    {
        reply.WriteTo(_out);
        await _out.FlushAsync(cancellationToken);
    }

    // The message up to the lone dot, dot-stuffing undone, CRLF line ends; null when input ends first. A message over
    // the limit is read to its end and answered 552.
    private async Task<byte[]?> ReadDataAsync(CancellationToken cancellationToken)
    {
        var message = new MemoryStream();
        var tooBig = false;
        while (true)
        {
            var line = await ReadLineAsync(MaxDataLine, cancellationToken);
            if (line is null) return null;
            if (line is [(byte)'.']) return tooBig ? TooBig : message.ToArray();
            if (tooBig) continue;
            var text = line.AsSpan();
            if (text is [(byte)'.', ..]) text = text[1..];
            message.Write(text);
            message.Write("\r\n"u8);
            if (message.Length > options.Limits.MaxMessageSize)
            {
                tooBig = true;
                message.SetLength(0);
            }
        }
    }

    // One line without its line end; a line over the limit is cut into pieces of the limit. Null at end of input.
    private async Task<byte[]?> ReadLineAsync(int maxLength, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _in.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var status = SmtpLineReader.TryReadLine(buffer, maxLength, out var line, out var consumed);
            if (status == LineStatus.Complete)
            {
                var bytes = line.ToArray();
                _in.AdvanceTo(consumed);
                return bytes;
            }
            if (status == LineStatus.TooLong)
            {
                var piece = buffer.Slice(0, maxLength).ToArray();
                _in.AdvanceTo(buffer.GetPosition(maxLength));
                return piece;
            }
            if (result.IsCompleted)
            {
                var rest = buffer.Length > 0 ? buffer.ToArray() : null;
                _in.AdvanceTo(buffer.End);
                return rest;
            }
            _in.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
