// The hook-facing view of a spooled message, with its content read back from the segment on demand.
using Mta.Abstractions;
using Mta.Engine.Spool;
using MimeKit;

namespace Mta.Engine.Queue;

/// <summary>A spooled message as the queue manager and the route/deliver hooks see it.</summary>
internal sealed class QueuedMessage : IQueuedMessage
{
    public QueuedMessage(SpooledMessage spooled, SegmentSpool spool)
    {
        Envelope = spooled.Envelope;
        Location = spooled.Location;
        Content = new SpoolMessageContent(spool, spooled.Location);
        Attempts = new int[spooled.Envelope.Recipients.Count];
    }

    public SpoolEnvelope Envelope { get; }
    public SpoolLocation Location { get; }

    /// <summary>Failed attempts per recipient index, for the backoff.</summary>
    public int[] Attempts { get; }

    public string QueueId => Envelope.QueueId;
    public DateTimeOffset ReceivedAt => Envelope.ReceivedAt;
    public TransactionKind Kind => Envelope.Kind;
    public SmtpAddress ReversePath => Envelope.ReversePath;
    public IReadOnlyList<EnvelopeRecipient> Recipients => Envelope.Recipients;
    public IMessageContent Content { get; }
}

/// <summary>The message bytes of one spool record; nothing is held in memory until someone parses it.</summary>
internal sealed class SpoolMessageContent(SegmentSpool spool, SpoolLocation location) : IMessageContent
{
    private MimeMessage? _parsed;

    public long Size => location.MessageLength;

    public Stream OpenRead() => spool.OpenMessage(location);

    public async ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
    {
        if (_parsed is { } cached) return cached;
        await using var stream = OpenRead();
        var parsed = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        // Two concurrent first calls may both parse; the first stored result wins so every caller sees one object.
        return Interlocked.CompareExchange(ref _parsed, parsed, null) ?? parsed;
    }
}
