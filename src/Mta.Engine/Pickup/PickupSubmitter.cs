// Hands a maildrop message to the engine's own SMTP session in this process, so local mail passes the same hooks,
// scripts, rewriting and signing as submitted mail.
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;
using Mta.Protocol;
using Mta.Protocol.Client;

namespace Mta.Engine.Pickup;

/// <summary>How one maildrop file fared in the pickup's session.</summary>
/// <param name="Kind">Queued (possibly with some recipients refused), refused for good, or to be tried again.</param>
/// <param name="QueueId">The spool's queue id when queued.</param>
/// <param name="Detail">The reply that decided, for the log.</param>
/// <param name="Refused">Recipients refused with a 5xx (each with its reply); the others were queued.</param>
/// <param name="Reply">The reply that refused the whole message (MAIL, DATA, end of data), when there was one.</param>
internal sealed record PickupResult(PickupResultKind Kind, string? QueueId, string Detail, IReadOnlyList<RefusedRecipient> Refused, SmtpReply? Reply = null);

/// <summary>A recipient the session refused for good, and its reply.</summary>
internal sealed record RefusedRecipient(string Address, SmtpReply Reply)
{
    public override string ToString() => $"<{Address}>: {PickupSubmitter.Flat(Reply)}";
}

internal enum PickupResultKind
{
    Queued,
    Refused,
    TryAgain,
}

/// <summary>
/// The client side of a session over an in-memory duplex pipe to <see cref="SmtpServer.ServeAsync"/>, on a pseudo
/// listener named <c>pickup</c>: the client is 127.0.0.1, already authenticated as the Unix user, a submission session
/// that may relay (as Postfix's pickup hands local mail to cleanup with the user's name attached).
/// </summary>
internal sealed class PickupSubmitter(SmtpServer server, MtaOptions options)
{
    /// <summary>The pseudo listener's name, as hooks, logs and the Received field see it.</summary>
    public const string ListenerName = "pickup";

    private static readonly ListenerOptions Listener = new()
    {
        Name = ListenerName,
        Address = "127.0.0.1",
        Port = 0,
        Tls = ListenerTlsMode.None,
        Role = ListenerRole.Submission,
        // The sender was already decided from the file's owner (or believed, for a trusted user).
        RequireOwnSender = false,
    };

    private static readonly IPEndPoint Client = new(IPAddress.Loopback, 0);
    private static readonly IPEndPoint Local = new(IPAddress.Loopback, 0);

    public async Task<PickupResult> SubmitAsync(string user, string sender, MaildropEnvelope envelope, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var serverSide = new DuplexStream(toServer.Reader.AsStream(), toClient.Writer.AsStream());
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var served = Task.Run(async () =>
        {
            try
            {
                return await server.ServeAsync(serverSide, Client, Local, Listener, null, linked.Token, authenticatedUser: user);
            }
            finally
            {
                await toClient.Writer.CompleteAsync();
                await toServer.Reader.CompleteAsync();
            }
        }, CancellationToken.None);
        var session = new Session(toClient.Reader, toServer.Writer);
        try
        {
            return await TalkAsync(session, sender, envelope, message, linked.Token);
        }
        catch (IOException ex)
        {
            return new PickupResult(PickupResultKind.TryAgain, null, "session ended: " + ex.Message, []);
        }
        finally
        {
            await toServer.Writer.CompleteAsync();
            try
            {
                await served.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            }
            catch (Exception) when (!served.IsCompletedSuccessfully)
            {
                await linked.CancelAsync();
            }
            await toClient.Reader.CompleteAsync();
        }
    }

    private async Task<PickupResult> TalkAsync(Session session, string sender, MaildropEnvelope envelope, ReadOnlyMemory<byte> message,
        CancellationToken ct)
    {
        var greeting = await session.ReadAsync(ct);
        if (greeting.Code != 220) return Decide(greeting, "greeting");
        var ehlo = await session.CommandAsync(ClientCommands.Ehlo(options.HostName), ct);
        if (ehlo.Code != 250) return Decide(ehlo, "EHLO");
        var capabilities = EhloCapabilities.Parse(ehlo);

        if (!TryPath(sender, allowNull: true, out var reversePath))
            return new PickupResult(PickupResultKind.Refused, null, $"sender <{sender}> is not an address", []);
        var mailParameters = "";
        if (envelope.Ret is not null) mailParameters += " RET=" + envelope.Ret;
        if (envelope.EnvelopeId is not null) mailParameters += " ENVID=" + Xtext.Encode(envelope.EnvelopeId);
        if (!SmtpCommandParser.TryParseMailParameters(mailParameters.Trim(), out var dsn, out var bad))
            return new PickupResult(PickupResultKind.Refused, null, "DSN parameters: " + bad, []);
        var eightBit = message.Span.IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0;
        var utf8 = !reversePath.IsAscii || envelope.Recipients.Any(r => !Ascii.IsValid(r));
        var mail = await session.CommandAsync(ClientCommands.MailFrom(reversePath, capabilities, message.Length,
            eightBit ? BodyType.EightBitMime : BodyType.Unspecified, utf8, dsn.Ret, dsn.EnvelopeId), ct);
        if (mail.Code != 250) return Decide(mail, "MAIL");

        var notify = DsnNotify.Default;
        if (envelope.Notify is not null)
        {
            if (!SmtpCommandParser.TryParseRcptParameters("NOTIFY=" + envelope.Notify, out var rcptParameters, out bad))
                return new PickupResult(PickupResultKind.Refused, null, "DSN NOTIFY: " + bad, []);
            notify = rcptParameters.Notify;
        }
        var refused = new List<RefusedRecipient>();
        var accepted = 0;
        foreach (var recipient in envelope.Recipients)
        {
            if (!TryPath(recipient, allowNull: false, out var forwardPath))
            {
                refused.Add(new RefusedRecipient(recipient, new SmtpReply(553, "5.1.3", "not an address")));
                continue;
            }
            var rcpt = await session.CommandAsync(ClientCommands.RcptTo(forwardPath, capabilities, notify), ct);
            if (rcpt.Code is 250 or 251) accepted++;
            else if (rcpt.IsTransient) return await AbandonAsync(session, rcpt, "RCPT", ct);
            else refused.Add(new RefusedRecipient(recipient, rcpt));
        }
        if (accepted == 0)
            return new PickupResult(PickupResultKind.Refused, null, "every recipient refused", refused);

        var data = await session.CommandAsync(ClientCommands.Data, ct);
        if (data.Code != 354) return data.IsTransient ? await AbandonAsync(session, data, "DATA", ct) : Decide(data, "DATA", refused);
        var encoded = new ArrayBufferWriter<byte>(message.Length + message.Length / 64 + 8);
        DotStuffing.Encode(message.Span, encoded);
        var end = await session.SendAsync(encoded.WrittenMemory, ct);
        if (end.Code != 250) return Decide(end, "end of data", refused);
        try
        {
            await session.CommandAsync(ClientCommands.Quit, ct);
        }
        catch (IOException)
        {
            // Queued already; the session's goodbye does not matter.
        }
        return new PickupResult(PickupResultKind.Queued, QueueId(end), Flat(end), refused);
    }

    private static async Task<PickupResult> AbandonAsync(Session session, SmtpReply reply, string stage, CancellationToken ct)
    {
        try
        {
            await session.CommandAsync(ClientCommands.Quit, ct);
        }
        catch (IOException)
        {
        }
        return Decide(reply, stage);
    }

    private static PickupResult Decide(SmtpReply reply, string stage, IReadOnlyList<RefusedRecipient>? refused = null) =>
        new(reply.IsPermanent ? PickupResultKind.Refused : PickupResultKind.TryAgain, null, $"{stage}: {Flat(reply)}", refused ?? [], reply);

    /// <summary>A reply on one line: <c>550 5.1.1 text</c>.</summary>
    internal static string Flat(SmtpReply reply) =>
        reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture) + (reply.EnhancedCode is null ? "" : " " + reply.EnhancedCode) + " " + string.Join(" ", reply.Lines);

    // "250 2.0.0 Ok: queued as ID" gives ID.
    private static string? QueueId(SmtpReply reply)
    {
        var text = string.Join(" ", reply.Lines);
        var at = text.LastIndexOf("queued as ", StringComparison.Ordinal);
        return at < 0 ? null : text[(at + "queued as ".Length)..].Split(' ')[0];
    }

    private static bool TryPath(string address, bool allowNull, out SmtpAddress path)
    {
        var text = "<" + address + ">";
        var ok = allowNull
            ? SmtpPathParser.TryParseReversePath(text, allowUtf8: true, out path, out var consumed, out _)
            : SmtpPathParser.TryParseForwardPath(text, allowUtf8: true, out path, out consumed, out _);
        return ok && consumed == text.Length;
    }

    /// <summary>The client's end: writes commands, reads replies with the protocol library's reply parser.</summary>
    private sealed class Session(PipeReader replies, PipeWriter commands)
    {
        public async Task<SmtpReply> CommandAsync(string line, CancellationToken ct) => await SendAsync(Encoding.UTF8.GetBytes(line), ct);

        public async Task<SmtpReply> SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
        {
            await commands.WriteAsync(bytes, ct);
            return await ReadAsync(ct);
        }

        public async Task<SmtpReply> ReadAsync(CancellationToken ct)
        {
            while (true)
            {
                var result = await replies.ReadAsync(ct);
                var buffer = result.Buffer;
                if (SmtpReply.TryParse(ref buffer, out var reply, out var malformed))
                {
                    replies.AdvanceTo(buffer.Start);
                    return reply!;
                }
                replies.AdvanceTo(buffer.Start, buffer.End);
                if (malformed) throw new IOException("malformed reply from the session");
                if (result.IsCompleted) throw new IOException("the session closed");
            }
        }
    }

    /// <summary>A stream over the server's ends of the two pipes.</summary>
    private sealed class DuplexStream(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => input.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => output.WriteAsync(buffer, offset, count, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);
        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);
        public override void Flush() => output.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
