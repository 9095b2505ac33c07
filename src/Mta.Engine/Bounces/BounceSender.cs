// Turns delivery outcomes into DSN messages and puts them in the durable queue like any other mail.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Queue;
using Mta.Engine.Spool;
using Mta.Protocol;

namespace Mta.Engine.Bounces;

/// <summary>
/// Sends RFC 3464 delivery status notifications. A DSN goes to the original reverse-path, never to <c>&lt;&gt;</c>;
/// when the original was itself a bounce (null reverse-path) a failure report goes to the postmaster instead (a
/// double bounce), and a failing double bounce is only logged, so notifications can never loop. Each DSN is
/// committed to the spool (fsync'd) before the caller journals the recipients it reports on as final: a crash in
/// between sends the DSN twice, never not at all.
/// </summary>
internal sealed partial class BounceSender
{
    /// <summary><see cref="SpoolEnvelope.Notification"/> of a DSN to a sender.</summary>
    public const string DsnNotification = "dsn";
    /// <summary><see cref="SpoolEnvelope.Notification"/> of a postmaster copy of an undeliverable bounce.</summary>
    public const string DoubleBounceNotification = "double-bounce";

    private readonly MtaOptions _options;
    private readonly IMessageSpool _spool;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SmtpAddress _postmaster;

    public BounceSender(MtaOptions options, IMessageSpool spool, TimeProvider time, ILogger<BounceSender> logger)
    {
        _options = options;
        _spool = spool;
        _time = time;
        _logger = logger;
        _postmaster = new SmtpAddress("postmaster", options.LocalDomains.FirstOrDefault() ?? options.HostName);
    }

    /// <summary>
    /// Which of <paramref name="recipients"/> a DSN of <paramref name="action"/> is due for: those whose NOTIFY asks
    /// for it, or, for a failure of a message sent from <c>&lt;&gt;</c>, all of them (to the postmaster).
    /// </summary>
    public bool IsDue(QueuedMessage message, EnvelopeRecipient recipient, DsnAction action)
    {
        if (message.Envelope.Notification == DoubleBounceNotification) return false;
        if (message.ReversePath.IsNull) return action == DsnAction.Failed;
        return DsnPolicy.IsRequested(recipient, action);
    }

    /// <summary>Builds and spools one DSN about <paramref name="recipients"/> of <paramref name="message"/>.</summary>
    /// <returns>The DSN's queue id, or null when none was due.</returns>
    public async Task<string?> SendAsync(QueuedMessage message, IReadOnlyList<DsnRecipient> recipients, CancellationToken cancellationToken)
    {
        if (recipients.Count == 0 || message.Envelope.Notification == DoubleBounceNotification) return null;
        var doubleBounce = message.ReversePath.IsNull;
        var to = doubleBounce ? _postmaster : message.ReversePath;
        var parameters = message.Envelope.MailParameters;
        var ret = parameters.TryGetValue("RET", out var r) && r is not null
            ? r.ToUpperInvariant() switch { "FULL" => DsnReturn.Full, "HDRS" => DsnReturn.Headers, _ => DsnReturn.Unspecified }
            : DsnReturn.Unspecified;
        string? envelopeId = null;
        if (parameters.TryGetValue("ENVID", out var e) && e is not null && Xtext.TryDecode(e, out var decoded)) envelopeId = decoded;
        var now = _time.GetUtcNow();
        var request = new DsnRequest(_options.HostName, message.QueueId, message.ReceivedAt, message.ReversePath, envelopeId, ret,
            message.Envelope.HeloName, recipients, message.Content, _options.Queue.BounceSizeLimit, to, doubleBounce, now);
        var dsn = await DsnBuilder.BuildAsync(request, cancellationToken).ConfigureAwait(false);
        var bytes = DsnBuilder.ToWireBytes(dsn);

        var queueId = QueueIds.Next();
        var trace = System.Text.Encoding.ASCII.GetBytes(
            $"Received: by {_options.HostName} (Mta) id {queueId}; {MimeKit.Utils.DateUtils.FormatDate(now)}\r\n");
        var envelopeParameters = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (!System.Text.Ascii.IsValid(to.LocalPart) || !System.Text.Ascii.IsValid(to.Domain)) envelopeParameters["SMTPUTF8"] = null;
        // The DSN may carry the original: it needs what the original needed to travel on (RFC 6152, RFC 6531).
        if (parameters.TryGetValue("BODY", out var body) && string.Equals(body, "8BITMIME", StringComparison.OrdinalIgnoreCase))
            envelopeParameters["BODY"] = "8BITMIME";
        if (parameters.ContainsKey("SMTPUTF8")) envelopeParameters["SMTPUTF8"] = null;
        // NOTIFY=NEVER on the DSN's own recipient, and the null reverse-path, keep a DSN from causing another.
        var envelope = new SpoolEnvelope(queueId, TransactionKind.Mail, now, SmtpAddress.Null, envelopeParameters,
            [new EnvelopeRecipient(to, DsnNotify.Never)], Extensibility.Plugins.MessageSubmitter.LocalClient, _options.HostName, null,
            doubleBounce ? DoubleBounceNotification : DsnNotification);
        await _spool.CommitAsync(envelope, Buffers.Sequences.Join([trace, bytes]), cancellationToken).ConfigureAwait(false);
        LogSent(message.QueueId, queueId, recipients[0].Action.ToString().ToLowerInvariant(), to.ToPathString(), recipients.Count);
        return queueId;
    }

    [LoggerMessage(EventId = 420, Level = LogLevel.Information, Message = "{QueueId}: sender non-delivery notification: {DsnQueueId} ({Action}) to {To} about {Recipients} recipient(s)")]
    private partial void LogSent(string queueId, string dsnQueueId, string action, string to, int recipients);
}
