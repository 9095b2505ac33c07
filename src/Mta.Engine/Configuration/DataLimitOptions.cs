// Limits:Data: how message data is held while it arrives (memory head, spill to disk), the server-wide budget, CHUNKING.
namespace Mta.Engine.Configuration;

/// <summary>How DATA and BDAT content is held while it arrives (<c>Limits:Data</c>).</summary>
public sealed class DataLimitOptions
{
    /// <summary>Octets of a message kept in memory; past it the message is written to a file in the queue directory as it
    /// arrives, and that file becomes the spooled body without another copy. Defaults to 256 KiB (262144): most mail
    /// stays on the in-memory group-commit path, and 1000 sessions at once hold at most 256 MiB of message data.</summary>
    public int MemoryThreshold { get; set; } = 256 * 1024;

    /// <summary>Octets of message data all sessions together may hold before their final dot or BDAT LAST (memory and
    /// spill files). A message that would pass it gets <c>451 4.3.1</c> (the rest of its data is read and dropped) and
    /// the session goes on. Defaults to null: 200 times <see cref="LimitOptions.MaxMessageSize"/> (2000 MiB for the
    /// default 10 MiB): 200 sessions at once may each be sending a message at the size limit, while a flood of 1000
    /// such sessions cannot put 10 GB of unfinished mail on the queue disk. Memory does not depend on it: past
    /// <see cref="MemoryThreshold"/> message data is on disk.</summary>
    public long? InFlightBudget { get; set; }

    /// <summary>Offer CHUNKING and BINARYMIME (RFC 3030) in EHLO and accept BDAT. Defaults to true. Off, BDAT answers 502
    /// (its chunk is still read and dropped) and <c>BODY=BINARYMIME</c> answers 555 5.5.4.</summary>
    public bool Chunking { get; set; } = true;

    /// <summary>The budget in effect: <see cref="InFlightBudget"/>, or its default for <paramref name="maxMessageSize"/>.</summary>
    public long EffectiveBudget(long maxMessageSize) => InFlightBudget ?? (maxMessageSize > long.MaxValue / 200 ? long.MaxValue : 200 * maxMessageSize);
}
