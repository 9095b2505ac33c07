// IMessageSubmitter: lets plugins and scripts put new messages into the durable spool, as the receiver does.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit.Utils;
using Mta.Abstractions;
using Mta.Engine.Buffers;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;

namespace Mta.Engine.Extensibility.Plugins;

/// <summary>
/// Spools a message produced inside the server (a list expansion, a notification). The message gets a
/// <c>Received: by HOST (Mta) id ID; DATE</c> trace field, like every message the server accepts, and is then
/// delivered by the queue manager as usual: the spool hands every commit to it. A message goes out signed (DKIM, and
/// ARC when asked) by the domain it is sent for, when the server has a key for that domain.
/// </summary>
public sealed partial class MessageSubmitter(IMessageSpool spool, MtaOptions options, TimeProvider time, ILogger<MessageSubmitter> logger,
    Authentication.Signing.DkimMessageSigner? signer = null, Authentication.Signing.ArcSealer? sealer = null)
    : IMessageSubmitter
{
    /// <summary>What the envelope records as the client of a message submitted from inside the server.</summary>
    public const string LocalClient = "127.0.0.1";

    /// <inheritdoc />
    public ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken) =>
        SubmitAsync(reversePath, recipients, message, SubmitOptions.Default, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        SubmitOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var signed = await SignAsync(reversePath, message, options, cancellationToken).ConfigureAwait(false);
        return await SubmitAsync(reversePath, recipients, signed, null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The message with an ARC set (when asked) and DKIM signatures in front, for the signing domain: the one
    /// asked for, else the reverse-path's. Unchanged when the server has no key for it. The ARC set comes first so the
    /// DKIM signature covers it, as a list's own mail would be.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> SignAsync(SmtpAddress reversePath, ReadOnlyMemory<byte> message, SubmitOptions submit,
        CancellationToken cancellationToken)
    {
        var domain = submit.SigningDomain ?? (reversePath.IsNull ? null : reversePath.Domain);
        if (string.IsNullOrEmpty(domain) || message.IsEmpty) return message;
        if (submit.ArcSeal && sealer is not null && sealer.CanSeal(domain))
        {
            var arc = await sealer.CreateArcSetFieldsAsync(domain, message, Authentication.InboundAuthenticator.AuthServIdOf(options), cancellationToken)
                .ConfigureAwait(false);
            if (arc.Count > 0) message = Prepend(arc, message);
        }
        if (signer is not null && signer.CanSign(domain))
        {
            var signatures = signer.CreateSignatureFields(domain, message);
            if (signatures.Count > 0) message = Prepend(signatures, message);
        }
        return message;
    }

    private static ReadOnlyMemory<byte> Prepend(IReadOnlyList<string> fields, ReadOnlyMemory<byte> message)
    {
        var head = Encoding.ASCII.GetBytes(string.Concat(fields));
        var joined = new byte[head.Length + message.Length];
        head.CopyTo(joined, 0);
        message.CopyTo(joined.AsMemory(head.Length));
        return joined;
    }

    /// <summary>As the public overload, for the server's own notifications.</summary>
    /// <param name="notification">Recorded as <see cref="SpoolEnvelope.Notification"/>.</param>
    /// <param name="needs">BODY=8BITMIME and SMTPUTF8 the message needs whatever its addresses (a DSN that returns an
    /// original sent with them).</param>
    internal async ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        string? notification, (bool EightBit, bool SmtpUtf8)? needs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reversePath);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0) throw new ArgumentException("at least one recipient is required", nameof(recipients));
        if (message.IsEmpty) throw new ArgumentException("the message is empty", nameof(message));

        var queueId = QueueIds.Next();
        var now = time.GetUtcNow();
        var trace = Encoding.ASCII.GetBytes($"Received: by {options.HostName} ({Receiver.ReceivedHeader.ProductComment(options.HostName, options.Node.Name)}) id {queueId}; {DateUtils.FormatDate(now)}\r\n");
        var parameters = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        // A non-ASCII address can only travel on with SMTPUTF8; say so as the client would have.
        if (!reversePath.IsAscii || recipients.Any(r => !r.Address.IsAscii) || needs?.SmtpUtf8 == true) parameters["SMTPUTF8"] = null;
        if (needs?.EightBit == true) parameters["BODY"] = "8BITMIME";
        var envelope = new SpoolEnvelope(queueId, TransactionKind.Mail, now, reversePath, parameters, recipients.ToArray(),
            LocalClient, options.HostName, null, notification);
        await spool.CommitAsync(envelope, Sequences.Join([trace, message]), cancellationToken).ConfigureAwait(false);
        LogSubmitted(queueId, reversePath.ToPathString(), recipients.Count, trace.Length + message.Length);
        return queueId;
    }


    [LoggerMessage(EventId = LogEvents.Plugins.Submitted, Level = LogLevel.Information, Message = "{QueueId}: submitted from inside the server, from={ReversePath} rcpts={Recipients} size={Size}")]
    private partial void LogSubmitted(string queueId, string reversePath, int recipients, long size);
}
