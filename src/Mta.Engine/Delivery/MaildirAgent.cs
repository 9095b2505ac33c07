// The Maildir delivery agent: recipients routed to a local mailbox user get a copy in that user's Maildir.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Authentication;
using Mta.Engine.Configuration;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers <see cref="RouteKind.Mailbox"/> routes: the route's target is the mailbox user, and every recipient of the
/// request gets its own copy (its own <c>Delivered-To:</c>) through <see cref="MaildirDelivery"/>. A message that this
/// server's DMARC check marked for quarantine goes to the user's Junk folder when
/// <see cref="DmarcOptions.Quarantine"/> is <see cref="DmarcQuarantine.Junk"/>. A copy that cannot be written (disk
/// full, permissions) defers that recipient alone: the copies already written stay delivered.
/// </summary>
internal sealed partial class MaildirAgent(MaildirDelivery maildir, MtaOptions options, ILogger<MaildirAgent> logger) : IDeliveryAgent
{
    private readonly ILogger _logger = logger;

    public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken) =>
        PerRecipient.DeliverEachAsync(request, (recipient, ct) => DeliverOneAsync(request.Message, recipient, request.Route.Target, ct),
            cancellationToken);

    /// <summary>One recipient's copy into <paramref name="user"/>'s Maildir (also the mailbox half of terminal delivery).</summary>
    internal async ValueTask<DeliveryOutcome> DeliverOneAsync(IQueuedMessage message, EnvelopeRecipient recipient, string user,
        CancellationToken cancellationToken)
    {
        if (!MaildirDelivery.IsValidMailbox(user))
            return DeliveryOutcome.Failed("5.1.3", $"5.1.3 '{user}' is not a usable mailbox name");
        try
        {
            // A DMARC quarantine mark can only have been set by this server's receiver, which removes incoming ones.
            var dmarc = options.Authentication.Dmarc;
            var folder = dmarc is { Enforce: true, Quarantine: DmarcQuarantine.Junk } && QuarantineMark.IsMarked(message.Content)
                ? QuarantineMark.JunkFolder : DetailFolder(recipient.Address, user);
            var path = await maildir.DeliverAsync(user, recipient.Address, message.ReversePath, message.Content, cancellationToken, folder)
                .ConfigureAwait(false);
            return DeliveryOutcome.Delivered("maildir " + Path.GetFileName(path));
        }
        catch (MailboxUserUnknownException ex)
        {
            // Mailboxes:HomeMaildir: the mailbox is a system account's home, and there is no such account.
            LocalDeliveryLog.UnknownAccount(_logger, message.QueueId, recipient.Address.ToString(), ex.User);
            return DeliveryOutcome.Failed("5.1.1", $"5.1.1 {ex.Message}: no home Maildir for <{recipient.Address}>");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A full disk or a bad permission may be fixed by the next attempt: a local write failure never bounces.
            LocalDeliveryLog.Failed(_logger, ex, message.QueueId, recipient.Address.ToString(), "mailbox:" + user);
            return DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message);
        }
    }

    /// <summary>
    /// The Maildir++ folder for the recipient's detail (<c>alice+tag</c> to <c>.tag</c>, <c>Mailboxes:RecipientDelimiter</c>)
    /// when the mailbox has that folder, else null (the inbox), as Dovecot's <c>lmtp_save_to_detail_mailbox</c>. Only
    /// when the route's mailbox is the address's user part, so a user whose own name holds the delimiter keeps it.
    /// </summary>
    private string? DetailFolder(SmtpAddress address, string mailbox)
    {
        var (user, detail) = Routing.AddressDetail.Split(address.LocalPart, options.Mailboxes.RecipientDelimiter);
        if (detail is null || !MaildirDelivery.IsValidUser(detail)) return null;
        var slash = mailbox.LastIndexOf('/');
        if (!string.Equals(mailbox[(slash + 1)..], user, StringComparison.OrdinalIgnoreCase)) return null;
        var folder = "." + detail;
        return maildir.FolderExists(mailbox, folder) ? folder : null;
    }
}

/// <summary>The log line of the local agents (Maildir, terminal) when one recipient's copy failed.</summary>
internal static partial class LocalDeliveryLog
{
    [LoggerMessage(EventId = LogEvents.Queue.LocalDeliveryFailed, Level = LogLevel.Error,
        Message = "{QueueId}: local delivery to <{Recipient}> (route {Route}) failed; will retry")]
    public static partial void Failed(ILogger logger, Exception exception, string queueId, string recipient, string route);

    [LoggerMessage(EventId = LogEvents.LocalTargets.HomeMaildirUnusable, Level = LogLevel.Warning,
        Message = "{QueueId}: <{Recipient}> bounced: no system account {User} for its home Maildir")]
    public static partial void UnknownAccount(ILogger logger, string queueId, string recipient, string user);
}
