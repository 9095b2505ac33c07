// The hook-facing view of a spooled message, its content read back from the segment on demand, and each recipient's state.
using Mta.Abstractions;
using Mta.Engine.Spool;
using MimeKit;

namespace Mta.Engine.Queue;

/// <summary>Where a recipient is in the queue's life cycle. Held: on hold by the operator, in no queue until released.</summary>
internal enum RecipientState { Ready, Active, Deferred, Final, Held }

/// <summary>One recipient's delivery state; guarded by its message's lock.</summary>
internal sealed class RecipientTrack
{
    public RecipientState State;
    public int Attempts;
    public DateTimeOffset? NextAttempt;
    public string? LastError;
    public bool DelayWarned;
    public string? FinalText;
    public RecipientOutcome? Outcome;
    /// <summary>
    /// Put on hold by the operator while Active (in delivery, or routed and waiting for its destination's slot): it
    /// stays Active, so no second delivery can start, and becomes Held where that delivery ends deferred or before it
    /// starts. A release meanwhile only clears the flag.
    /// </summary>
    public bool HoldRequested;
    /// <summary>The destination of its last delivery attempt (a next hop's key, or kind:target), for the operator.</summary>
    public string? Destination;

    /// <summary>What the retry journal keeps of it.</summary>
    public DeferralRecord ToRecord(DateTimeOffset nextAttempt) =>
        new(Attempts, nextAttempt, DelayWarned, LastError, State == RecipientState.Held || HoldRequested);
}

/// <summary>A spooled message as the queue manager and the route/deliver hooks see it.</summary>
internal sealed class QueuedMessage : ISpooledMessage
{
    public QueuedMessage(SpooledMessage spooled, SegmentSpool spool)
    {
        Envelope = spooled.Envelope;
        Location = spooled.Location;
        Content = new SpoolMessageContent(spool, spooled.Location);
        Tracks = new RecipientTrack[spooled.Envelope.Recipients.Count];
        for (var i = 0; i < Tracks.Length; i++)
        {
            var track = Tracks[i] = new RecipientTrack();
            if (spooled.FinalRecipients.Contains(i))
            {
                track.State = RecipientState.Final;
                track.Outcome = RecipientOutcome.Delivered;
            }
            else if (spooled.Deferrals is { } d && d.TryGetValue(i, out var deferral))
            {
                track.Attempts = deferral.Attempts;
                track.NextAttempt = deferral.NextAttempt;
                track.LastError = deferral.LastError;
                track.DelayWarned = deferral.DelayWarned;
                if (deferral.Held) track.State = RecipientState.Held;
            }
            else if (spooled.Envelope.Quarantine is not null)
            {
                // Quarantined by a milter: held from the start, and until a release journals it otherwise.
                track.State = RecipientState.Held;
            }
        }
    }

    public SpoolEnvelope Envelope { get; }
    public SpoolLocation Location { get; }

    /// <summary>Per recipient index; lock <see cref="Gate"/> to read or change.</summary>
    public RecipientTrack[] Tracks { get; }

    public Lock Gate { get; } = new();

    /// <summary>Its place in the scheduler's arrival order; set while it is queued.</summary>
    internal ArrivalOrder.Node? Arrival { get; set; }

    public string QueueId => Envelope.QueueId;
    public DateTimeOffset ReceivedAt => Envelope.ReceivedAt;
    public TransactionKind Kind => Envelope.Kind;
    public SmtpAddress ReversePath => Envelope.ReversePath;
    public IReadOnlyList<EnvelopeRecipient> Recipients => Envelope.Recipients;
    public IMessageContent Content { get; }

    /// <summary>True when no recipient is left to deliver.</summary>
    public bool IsComplete
    {
        get
        {
            lock (Gate) return Array.TrueForAll(Tracks, t => t.State == RecipientState.Final);
        }
    }

    /// <summary>Moves those of <paramref name="indexes"/> that are in one of the <paramref name="from"/> states to
    /// <paramref name="to"/>; returns the indexes moved.</summary>
    public int[] Claim(IEnumerable<int> indexes, RecipientState to, params RecipientState[] from)
    {
        var claimed = new List<int>();
        lock (Gate)
        {
            foreach (var i in indexes)
            {
                if (Array.IndexOf(from, Tracks[i].State) < 0) continue;
                Tracks[i].State = to;
                claimed.Add(i);
            }
        }
        return [.. claimed];
    }

    /// <summary>Makes a recipient final once; false when it already was (deleted by the operator meanwhile).</summary>
    public bool TryMakeFinal(int index, RecipientOutcome outcome, string text)
    {
        lock (Gate)
        {
            var track = Tracks[index];
            if (track.State == RecipientState.Final) return false;
            track.State = RecipientState.Final;
            track.NextAttempt = null;
            track.FinalText = text;
            track.Outcome = outcome;
            return true;
        }
    }
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
