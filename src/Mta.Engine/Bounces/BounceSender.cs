// Turns delivery outcomes into DSN messages and puts them in the durable queue like any other mail.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Plugins;
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
    private readonly MessageSubmitter _submitter;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SmtpAddress _postmaster;

    public BounceSender(MtaOptions options, MessageSubmitter submitter, TimeProvider time, ILogger<BounceSender> logger)
    {
        _options = options;
        _submitter = submitter;
        _time = time;
        _logger = logger;
        _postmaster = new SmtpAddress("postmaster", options.LocalDomains.FirstOrDefault() ?? options.HostName);
    }

    /// <summary>
    /// Which of <paramref name="recipients"/> a DSN of <paramref name="action"/> is due for: those whose NOTIFY asks
    /// for it, or, for a failure of a message sent from <c>&lt;&gt;</c>, all of them (to the postmaster).
    /// </summary>
    public bool IsDue(ISpooledMessage message, EnvelopeRecipient recipient, DsnAction action)
    {
        if (message.Envelope.Notification == DoubleBounceNotification) return false;
        if (message.ReversePath.IsNull) return action == DsnAction.Failed;
        return DsnPolicy.IsRequested(recipient, action);
    }

    /// <summary>Builds and spools one DSN about <paramref name="recipients"/> of <paramref name="message"/>.</summary>
    /// <returns>The DSN's queue id, or null when none was due.</returns>
    public async Task<string?> SendAsync(ISpooledMessage message, IReadOnlyList<DsnRecipient> recipients, CancellationToken cancellationToken)
    {
        if (recipients.Count == 0 || message.Envelope.Notification == DoubleBounceNotification) return null;
        var doubleBounce = message.ReversePath.IsNull;
        var to = doubleBounce ? _postmaster : message.ReversePath;
        var original = message.Envelope;
        var request = new DsnRequest(_options.HostName, message.QueueId, message.ReceivedAt, message.ReversePath, original.EnvelopeId,
            original.Ret, original.HeloName, recipients, message.Content, _options.Queue.BounceSizeLimit, to, doubleBounce, _time.GetUtcNow());
        var dsn = await DsnBuilder.BuildAsync(request, cancellationToken).ConfigureAwait(false);
        // NOTIFY=NEVER on the DSN's own recipient, and the null reverse-path, keep a DSN from causing another. It may carry
        // the original: it needs what the original needed to travel on (RFC 6152, RFC 6531).
        var queueId = await _submitter.SubmitAsync(SmtpAddress.Null, [new EnvelopeRecipient(to, DsnNotify.Never)], DsnBuilder.ToWireBytes(dsn),
            doubleBounce ? DoubleBounceNotification : DsnNotification, (original.Body == BodyType.EightBitMime, original.SmtpUtf8),
            cancellationToken).ConfigureAwait(false);
        LogSent(message.QueueId, queueId, recipients[0].Action.ToString().ToLowerInvariant(), to.ToPathString(), recipients.Count);
        return queueId;
    }

    [LoggerMessage(EventId = LogEvents.Queue.BounceSent, Level = LogLevel.Information, Message = "{QueueId}: sender non-delivery notification: {DsnQueueId} ({Action}) to {To} about {Recipients} recipient(s)")]
    private partial void LogSent(string queueId, string dsnQueueId, string action, string to, int recipients);
}
