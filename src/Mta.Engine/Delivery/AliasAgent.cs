// The alias step of local delivery: a mailbox route whose name is an alias is expanded and each final target delivered.
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Maps;
using Mta.Engine.Routing;
using Mta.Engine.Spool;

namespace Mta.Engine.Delivery;

/// <summary>
/// Delivers a mailbox route whose name is an alias (<see cref="AliasTable"/>), as Postfix's local(8): the alias is expanded
/// (<see cref="AliasExpander"/>) and each final target gets its copy: a local user through the mailbox agent the router
/// uses (Maildir or LMTP), a <c>/file</c> through <see cref="IFileDelivery"/>, a <c>|command</c> through
/// <see cref="IPipeDelivery"/>, and the addresses of other domains in one new message per envelope sender, each
/// recipient carrying the alias as its ORCPT. A message that already has <c>Delivered-To: alias</c> has been here before:
/// it bounces with 5.4.6 (a mail forwarding loop).
/// <para>
/// The alias recipient's outcome: delivered when every target is; deferred when any target deferred (the whole alias is
/// tried again, as Postfix does); else failed when any target failed. Unlike Postfix, a retry does not deliver again to
/// the targets an earlier attempt already finished: they are remembered per message and recipient in memory (a restart
/// forgets them, so a retry after a restart may repeat those copies).
/// </para>
/// </summary>
internal sealed partial class AliasAgent : IDeliveryAgent
{
    private const int PruneAbove = 1024;
    private readonly AliasTable _table;
    private readonly MtaOptions _options;
    private readonly IDeliveryAgent _mailbox;
    private readonly bool _lmtp;
    private readonly MessageSubmitter _submitter;
    private readonly IPipeDelivery? _pipe;
    private readonly IFileDelivery? _file;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AliasExpander _expander;
    private readonly ConcurrentDictionary<(string QueueId, string Recipient), Progress> _progress = new();

    /// <param name="mailbox">The agent of mailbox routes (LMTP when configured, else Maildir).</param>
    /// <param name="lmtp">True when <paramref name="mailbox"/> is the LMTP agent: it knows its users by address, and decides
    /// itself which exist.</param>
    public AliasAgent(AliasTable table, MtaOptions options, IDeliveryAgent mailbox, bool lmtp, MessageSubmitter submitter,
        IPipeDelivery? pipe, IFileDelivery? file, TimeProvider time, ILogger<AliasAgent> logger, AliasAccounts? accounts = null,
        Reload.LiveSettings? live = null)
    {
        _table = table;
        _options = options;
        _mailbox = mailbox;
        _lmtp = lmtp;
        _submitter = submitter;
        _pipe = pipe;
        _file = file;
        _time = time;
        _logger = logger;
        // The local domains and mailbox users a reload leaves (not the aliases: an alias name is not a mailbox).
        live ??= new Reload.LiveSettings(options);
        _expander = new AliasExpander(table, options, accounts ?? AliasAccounts.System,
            name => lmtp || live.Current.Recipients.Mailboxes.CheckMailbox(name) == LocalRecipientVerdict.Accepted,
            () => live.Current.LocalDomains);
    }

    /// <summary>True when the mailbox route to <paramref name="target"/> (a user, or <c>local@domain</c> for LMTP) names an alias.</summary>
    public bool Handles(string target) => !_table.IsEmpty && _table.Find(LocalPartOf(target)) is not null;

    /// <inheritdoc />
    public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken) =>
        PerRecipient.DeliverEachAsync(request, (recipient, ct) => DeliverOneAsync(request.Message, recipient, request.Route, ct), cancellationToken);

    private async ValueTask<DeliveryOutcome> DeliverOneAsync(IQueuedMessage message, EnvelopeRecipient recipient, Route route, CancellationToken ct)
    {
        var name = LocalPartOf(route.Target);
        if (_table.Find(name) is not { } alias)
        {
            // The alias went away (a reload) since the route was chosen: the name is a mailbox again.
            return (await _mailbox.DeliverAsync(new DeliveryRequest(message, [recipient], route), ct).ConfigureAwait(false)).Recipients[0];
        }
        if (await HasDeliveredToAsync(message, recipient.Address, ct).ConfigureAwait(false))
        {
            LogLoop(_logger, message.QueueId, recipient.Address.ToString(), "the message already has Delivered-To: " + recipient.Address);
            return DeliveryOutcome.Failed("5.4.6", $"5.4.6 mail forwarding loop for {recipient.Address}");
        }

        var expansion = _expander.Expand(alias, recipient.Address);
        foreach (var loop in expansion.Loops) LogLoop(_logger, message.QueueId, recipient.Address.ToString(), "alias loop " + loop);
        if (expansion.Targets.Count == 0)
            return DeliveryOutcome.Failed("5.4.6", $"5.4.6 alias {alias.Entry.Name} expands to nothing but loops ({string.Join("; ", expansion.Loops)})");

        var key = (message.QueueId, recipient.Address.ToString());
        var progress = _progress.GetOrAdd(key, _ => new Progress(_time.GetUtcNow()));
        Prune();
        var origTo = recipient.Address.ToString();
        foreach (var target in expansion.Targets.Where(t => t.Kind != AliasDestination.Remote || t.Problem is not null))
        {
            if (progress.Done.ContainsKey(target.Key)) continue;
            var outcome = target.Problem ?? await DeliverTargetAsync(message, recipient, route, target, ct).ConfigureAwait(false);
            Record(message, progress, target, outcome, origTo);
        }
        var remote = expansion.Targets.Where(t => t.Kind == AliasDestination.Remote && t.Problem is null && !progress.Done.ContainsKey(t.Key)).ToArray();
        foreach (var group in remote.GroupBy(t => t.Sender?.ToString() ?? ""))
        {
            var outcome = await ForwardAsync(message, recipient, alias.Entry.Name, expansion.Targets.Count, group.ToArray(), ct).ConfigureAwait(false);
            foreach (var target in group) Record(message, progress, target, outcome, origTo);
        }
        var result = Combine(alias.Entry.Name, expansion.Targets, progress);
        if (result.Status != DeliveryStatus.Deferred) _progress.TryRemove(key, out _);
        return result;
    }

    private void Record(IQueuedMessage message, Progress progress, ExpandedTarget target, DeliveryOutcome outcome, string origTo)
    {
        var domain = origTo[(origTo.LastIndexOf('@') + 1)..];
        var to = target.Kind == AliasDestination.Mailbox && origTo.Contains('@', StringComparison.Ordinal) ? target.Value + "@" + domain : target.ToString();
        LogTarget(_logger, message.QueueId, to, origTo, target.Kind.ToString().ToLowerInvariant(), outcome.Status.ToString().ToLowerInvariant(), outcome.Detail);
        // A deferred target is tried again with the alias; delivered and failed ones are final.
        if (outcome.Status != DeliveryStatus.Deferred) progress.Done[target.Key] = outcome;
        else progress.Done.TryRemove(target.Key, out _);
        progress.Last[target.Key] = outcome;
    }

    private async ValueTask<DeliveryOutcome> DeliverTargetAsync(IQueuedMessage message, EnvelopeRecipient recipient, Route route,
        ExpandedTarget target, CancellationToken ct)
    {
        var copy = recipient with { OriginalRecipient = OriginalRecipientOf(recipient) };
        try
        {
            switch (target.Kind)
            {
                case AliasDestination.Mailbox:
                    var domain = recipient.Address.Domain;
                    var user = new SmtpAddress(target.Value, domain);
                    var mailboxRoute = new Route(RouteKind.Mailbox, _lmtp && domain.Length > 0 ? target.Value + "@" + domain : target.Value);
                    var delivered = await _mailbox.DeliverAsync(new DeliveryRequest(message, [copy with { Address = user }], mailboxRoute), ct)
                        .ConfigureAwait(false);
                    return delivered.Recipients[0];
                case AliasDestination.File:
                    return _file is null ? DeliveryOutcome.Deferred("4.3.0", "4.3.0 no file delivery agent in this server")
                        : await _file.AppendAsync(target.Value, target.RunAs, message, copy, ct).ConfigureAwait(false);
                case AliasDestination.Command:
                    return _pipe is null ? DeliveryOutcome.Deferred("4.3.0", "4.3.0 no pipe delivery agent in this server")
                        : await _pipe.PipeAsync(target.Value, target.RunAs, message, copy, ct).ConfigureAwait(false);
                default:
                    return DeliveryOutcome.Failed("5.3.0", $"5.3.0 unknown alias target kind {target.Kind}");
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LocalDeliveryLog.Failed(_logger, ex, message.QueueId, target.ToString(), "alias:" + route.Target);
            return DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + ex.Message);
        }
    }

    /// <summary>
    /// One new message to the remote <paramref name="targets"/> (all with the same envelope sender): the original with a
    /// <c>Delivered-To:</c> field for the alias in front (so a copy that comes back is recognised as a loop), each
    /// recipient with the alias as ORCPT. A single forward passes the NOTIFY request on (RFC 3461 6.2.7.3); a list's
    /// copies do not ask for success notices, and report to its owner when it has one (6.2.7.4).
    /// </summary>
    private async ValueTask<DeliveryOutcome> ForwardAsync(IQueuedMessage message, EnvelopeRecipient recipient, string alias, int total,
        ExpandedTarget[] targets, CancellationToken ct)
    {
        var sender = targets[0].Sender ?? message.ReversePath;
        var notify = total == 1 ? recipient.Notify
            : targets[0].Sender is not null ? DsnNotify.Default
            : (recipient.Notify & ~DsnNotify.Success) is var rest && rest == 0 && recipient.Notify != DsnNotify.Default ? DsnNotify.Never : recipient.Notify & ~DsnNotify.Success;
        var orcpt = OriginalRecipientOf(recipient);
        var recipients = targets.Select(t =>
        {
            var at = t.Value.LastIndexOf('@');
            return new EnvelopeRecipient(new SmtpAddress(t.Value[..at], t.Value[(at + 1)..]), notify, orcpt);
        }).ToArray();
        try
        {
            var head = Encoding.UTF8.GetBytes($"Delivered-To: {recipient.Address}\r\n");
            var content = new byte[head.Length + message.Content.Size];
            head.CopyTo(content, 0);
            var stream = message.Content.OpenRead();
            await using (stream.ConfigureAwait(false))
                await stream.ReadExactlyAsync(content.AsMemory(head.Length), ct).ConfigureAwait(false);
            var parameters = (message as ISpooledMessage)?.Envelope.MailParameters;
            var needs = parameters is null ? ((bool, bool)?)null
                : (parameters.TryGetValue("BODY", out var body) && string.Equals(body, "8BITMIME", StringComparison.OrdinalIgnoreCase),
                    parameters.ContainsKey("SMTPUTF8"));
            var queueId = await _submitter.SubmitAsync(sender, recipients, content, null, needs, ct).ConfigureAwait(false);
            LogForwarded(_logger, message.QueueId, alias, queueId, sender.ToPathString(), recipients.Length);
            return DeliveryOutcome.Delivered($"forwarded as {queueId}") with
            {
                // The forwarded copy carries the NOTIFY request of a single forward, so its next hop reports success.
                Notice = total == 1 ? SuccessNotice.None : SuccessNotice.Relayed,
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LocalDeliveryLog.Failed(_logger, ex, message.QueueId, string.Join(",", targets.Select(t => t.Value)), "alias:" + alias);
            return DeliveryOutcome.Deferred("4.3.0", "4.3.0 could not queue the forwarded copy: " + ex.Message);
        }
    }

    private static DeliveryOutcome Combine(string alias, IReadOnlyList<ExpandedTarget> targets, Progress progress)
    {
        var outcomes = targets.Select(t => (Target: t, Outcome: progress.Last.GetValueOrDefault(t.Key)
            ?? DeliveryOutcome.Deferred("4.3.0", "4.3.0 not tried"))).ToArray();
        var delivered = outcomes.Count(o => o.Outcome.Status == DeliveryStatus.Delivered);
        if (outcomes.FirstOrDefault(o => o.Outcome.Status == DeliveryStatus.Deferred) is { Target: not null } deferred)
        {
            var count = outcomes.Count(o => o.Outcome.Status == DeliveryStatus.Deferred);
            return new DeliveryOutcome(DeliveryStatus.Deferred, deferred.Outcome.EnhancedStatus,
                $"alias {alias}: {count} of {targets.Count} target(s) deferred ({deferred.Target}: {deferred.Outcome.Detail}); {delivered} delivered, not repeated");
        }
        if (outcomes.FirstOrDefault(o => o.Outcome.Status == DeliveryStatus.Failed) is { Target: not null } failed)
        {
            var count = outcomes.Count(o => o.Outcome.Status == DeliveryStatus.Failed);
            return new DeliveryOutcome(DeliveryStatus.Failed, failed.Outcome.EnhancedStatus,
                $"alias {alias}: {count} of {targets.Count} target(s) failed ({failed.Target}: {failed.Outcome.Detail}); {delivered} delivered")
            {
                RemoteReply = failed.Outcome.RemoteReply,
            };
        }
        if (outcomes.Length == 1) return outcomes[0].Outcome with { Detail = $"alias {alias}: {outcomes[0].Target}: {outcomes[0].Outcome.Detail}" };
        return DeliveryOutcome.Delivered($"alias {alias} expanded to {targets.Count} targets") with { Notice = SuccessNotice.Expanded };
    }

    /// <summary>True when the message's header already has <c>Delivered-To: address</c> (any case).</summary>
    private static async ValueTask<bool> HasDeliveredToAsync(IQueuedMessage message, SmtpAddress address, CancellationToken ct)
    {
        var stream = message.Content.OpenRead();
        await using (stream.ConfigureAwait(false))
        {
            var headers = await HeaderList.LoadAsync(stream, ct).ConfigureAwait(false);
            var wanted = address.ToString();
            return headers.Any(h => h.Field.Equals("Delivered-To", StringComparison.OrdinalIgnoreCase)
                && string.Equals(h.Value.Trim().Trim('<', '>'), wanted, StringComparison.OrdinalIgnoreCase));
        }
    }

    private static string OriginalRecipientOf(EnvelopeRecipient recipient) => recipient.OriginalRecipient ?? "rfc822;" + recipient.Address;

    private static string LocalPartOf(string target)
    {
        var at = target.LastIndexOf('@');
        return at > 0 ? target[..at] : target;
    }

    // Progress of a message the queue gave up on while deferred is never removed by a delivery; drop it after the queue would have.
    private void Prune()
    {
        if (_progress.Count <= PruneAbove) return;
        var cutoff = _time.GetUtcNow() - _options.Queue.MaxLifetime - TimeSpan.FromDays(1);
        foreach (var (key, progress) in _progress)
            if (progress.Started < cutoff) _progress.TryRemove(key, out _);
    }

    /// <summary>What the attempts so far did for each target of one alias recipient.</summary>
    private sealed class Progress(DateTimeOffset started)
    {
        public DateTimeOffset Started { get; } = started;
        /// <summary>Final outcomes (delivered or failed): not tried again.</summary>
        public ConcurrentDictionary<string, DeliveryOutcome> Done { get; } = new(StringComparer.OrdinalIgnoreCase);
        /// <summary>The latest outcome of every target tried.</summary>
        public ConcurrentDictionary<string, DeliveryOutcome> Last { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    [LoggerMessage(EventId = LogEvents.Maps.AliasTarget, Level = LogLevel.Information,
        Message = "{QueueId}: to=<{Target}> orig_to=<{OrigTo}> route=alias:{Kind} result={Result} ({Detail})")]
    private static partial void LogTarget(ILogger logger, string queueId, string target, string origTo, string kind, string result, string detail);

    [LoggerMessage(EventId = LogEvents.Maps.AliasLoop, Level = LogLevel.Warning, Message = "{QueueId}: to=<{Recipient}>: {Loop}")]
    private static partial void LogLoop(ILogger logger, string queueId, string recipient, string loop);

    [LoggerMessage(EventId = LogEvents.Maps.AliasForwarded, Level = LogLevel.Information,
        Message = "{QueueId}: alias {Alias} forwarded as {ForwardedId} from={Sender} rcpts={Recipients}")]
    private static partial void LogForwarded(ILogger logger, string queueId, string alias, string forwardedId, string sender, int recipients);
}
