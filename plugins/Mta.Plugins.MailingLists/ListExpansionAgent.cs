// The "lists" delivery agent: turns one copy addressed to a list into one new queue entry for its members.
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Plugins.MailingLists;

/// <summary>
/// Expands a list at delivery time rather than at RCPT time so that the membership used is the one current when
/// the message leaves, a big list costs the client nothing, and each member gets its own per-recipient status in
/// the new queue entry (the list's own recipient is "delivered" once the entry is safely spooled). One request may
/// carry several lists (a message to two lists): each is expanded on its own, and one that cannot be spooled now is
/// deferred alone, so the lists already expanded are not expanded twice by the retry.
/// </summary>
public sealed class ListExpansionAgent(ListCatalog catalog, IMessageSubmitter queue, ILogger logger, int maxDepth) : IDeliveryAgent
{
    /// <summary>The agent name recipients are routed to.</summary>
    public const string AgentName = "lists";

    public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var outcomes = new DeliveryOutcome[request.Recipients.Count];
        for (var i = 0; i < outcomes.Length; i++)
        {
            var recipient = request.Recipients[i];
            try
            {
                outcomes[i] = await ExpandAsync(request.Message, recipient, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogError(ex, "{QueueId}: expanding <{List}> failed; will retry", request.Message.QueueId, recipient.Address);
                outcomes[i] = DeliveryOutcome.Deferred("4.3.0", $"expanding <{recipient.Address}> failed: {ex.GetType().Name}: {ex.Message}");
            }
        }
        return new DeliveryResult(outcomes);
    }

    private async ValueTask<DeliveryOutcome> ExpandAsync(IQueuedMessage message, EnvelopeRecipient recipient, CancellationToken cancellationToken)
    {
        var list = catalog.Find(recipient.Address);
        // Routing and delivery run in the same attempt, so this only happens when a list file vanished in between.
        if (list is null) return DeliveryOutcome.Failed("5.1.1", $"<{recipient.Address}> is no longer a mailing list");

        byte[] original;
        await using (var stream = message.Content.OpenRead())
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            original = buffer.ToArray();
        }
        var header = HeaderEditor.Parse(original);

        // Every expansion leaves an X-Loop line, so the chain of lists a message went through is in its header.
        var loops = header.Values("X-Loop").Select(Unbracket).ToList();
        var self = Addresses.Key(list.Address);
        if (loops.Any(l => l.Equals(self, StringComparison.OrdinalIgnoreCase))
            || header.Values("List-Id").Any(v => ListIdOf(v).Equals(list.ListId, StringComparison.OrdinalIgnoreCase)))
            return DeliveryOutcome.Failed("5.4.6", $"mail loop detected for {list.Address}");
        if (loops.Count >= maxDepth)
            return DeliveryOutcome.Failed("5.4.6", $"list nesting deeper than {maxDepth} at {list.Address}");

        // A member that is this list or one already in the chain would only come back here and be refused as a loop;
        // leaving it out saves the owner a bounce per expansion.
        var chain = new HashSet<string>(loops, StringComparer.OrdinalIgnoreCase) { self };
        // A nested list's member who is also a recipient of the entry being delivered (typically a member of the
        // parent list too) already gets this very message from that entry: a second copy would be a duplicate.
        var alreadyAddressed = new HashSet<string>(
            message.Recipients.Where(r => r != recipient).Select(r => Addresses.Key(r.Address)), StringComparer.OrdinalIgnoreCase);
        var recipients = list.Members
            .Where(m => !chain.Contains(Addresses.Key(m.Address)) && !alreadyAddressed.Contains(Addresses.Key(m.Address)))
            .Select(m => new EnvelopeRecipient(m.Address))
            .ToList();
        if (list.Members.Count == 0) return DeliveryOutcome.Delivered("no members");
        if (recipients.Count == 0) return DeliveryOutcome.Delivered("every member already has a copy");

        // One List-Id per message (RFC 2919 identifies the list the reader got it from): a nested list replaces
        // its parent's, while the X-Loop lines accumulate.
        var rewritten = header.Rewrite(["List-Id"],
        [
            new("List-Id", FormatListId(list)),
            new("X-Loop", list.Address.ToString()),
        ]);
        // NOTIFY and ORCPT are not passed on: RFC 3461 section 6.2.7.3 treats delivery to a list as final
        // ("expanded"), and the members' bounces go to the owner, who is the new envelope sender.
        // Signed by the list's domain with an ARC set first: the List-Id and X-Loop lines (and any footer a receiver's
        // filter adds later) can break the author's DKIM signature, and the ARC set tells receivers what it was here.
        var signing = new SubmitOptions { SigningDomain = list.Address.Domain, ArcSeal = true };
        var queueId = await queue.SubmitAsync(list.Owner, recipients, rewritten, signing, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("{QueueId}: list {List} expanded to {Count} members as {NewQueueId} (sender {Owner})",
            message.QueueId, list.Address, recipients.Count, queueId, list.Owner);
        return DeliveryOutcome.Delivered($"expanded to {recipients.Count} members as {queueId}");
    }

    /// <summary>The RFC 2919 field value: <c>Description &lt;local.domain&gt;</c>.</summary>
    public static string FormatListId(MailingList list)
    {
        var id = "<" + list.ListId + ">";
        return list.Description is { } d ? Phrase(d) + " " + id : id;
    }

    private static string Phrase(string text)
    {
        text = text.Replace('\r', ' ').Replace('\n', ' ').Trim();
        if (text.Any(c => c > 0x7e))
            return "=?utf-8?b?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(text)) + "?=";
        // A phrase of atoms can go as it is; anything with specials must be a quoted string.
        if (text.All(c => char.IsAsciiLetterOrDigit(c) || c == ' ' || "!#$%&'*+-/=?^_`{|}~".Contains(c))) return text;
        return "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    private static string Unbracket(string value)
    {
        value = value.Trim();
        if (value.StartsWith('<') && value.EndsWith('>')) value = value[1..^1].Trim();
        return value;
    }

    /// <summary>The identifier inside the angle brackets of a List-Id value (or the whole value, for the obsolete form).</summary>
    private static string ListIdOf(string value)
    {
        var lt = value.LastIndexOf('<');
        var gt = value.LastIndexOf('>');
        return lt >= 0 && gt > lt ? value[(lt + 1)..gt].Trim() : value.Trim();
    }
}
