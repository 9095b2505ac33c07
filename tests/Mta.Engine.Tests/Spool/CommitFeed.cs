// What a spool announced on its commit channel, read the way the queue reads it, for tests that need the locations.
using System.Collections;
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Spool;

/// <summary>The messages a spool put on its <see cref="SegmentSpool.Committed"/> channel so far, in order; reading any
/// member takes what the channel holds by then.</summary>
internal sealed class CommitFeed : IReadOnlyList<SpooledMessage>
{
    private readonly List<SpooledMessage> _seen = [];
    private SegmentSpool? _spool;

    /// <summary>Reads <paramref name="spool"/>'s channel from now on (what it holds already included).</summary>
    public void Attach(SegmentSpool spool) => _spool = spool;

    public SpooledMessage this[int index] => Drained[index];

    public int Count => Drained.Count;

    public IEnumerator<SpooledMessage> GetEnumerator() => Drained.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private List<SpooledMessage> Drained
    {
        get
        {
            while (_spool is not null && _spool.Committed.TryRead(out var message)) _seen.Add(message);
            return _seen;
        }
    }
}
