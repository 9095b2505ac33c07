// The last hour of activity: a fixed ring of 10 s samples, each with the running totals it was cut from.
namespace Mta.Engine.Status;

/// <summary>
/// A bounded ring of samples, oldest overwritten first, so the history costs the same memory after a month as after an
/// hour. Each entry keeps the running totals it was taken at, so the last minute's rates are a difference of two totals
/// rather than a sum over samples. Not thread-safe: <see cref="ServerStatus"/> locks around it.
/// </summary>
internal sealed class ActivityHistory(int capacity)
{
    private readonly Entry[] _entries = new Entry[capacity];
    private int _next, _count;

    /// <summary>One sample and the running totals it was cut from.</summary>
    public readonly record struct Entry(ActivitySample Sample, ActivityTotals Totals);

    public int Count => _count;

    public int Capacity => _entries.Length;

    /// <summary>The newest entry, or null when none was taken yet.</summary>
    public Entry? Newest => _count == 0 ? null : _entries[(_next - 1 + _entries.Length) % _entries.Length];

    public void Add(Entry entry)
    {
        _entries[_next] = entry;
        _next = (_next + 1) % _entries.Length;
        if (_count < _entries.Length) _count++;
    }

    /// <summary>The samples taken after <paramref name="since"/>, oldest first.</summary>
    public List<ActivitySample> After(DateTimeOffset since)
    {
        var samples = new List<ActivitySample>(_count);
        for (var i = 0; i < _count; i++)
        {
            var sample = At(i).Sample;
            if (sample.At > since) samples.Add(sample);
        }
        return samples;
    }

    /// <summary>The newest entry taken at or before <paramref name="time"/>, or null when every entry is later.</summary>
    public Entry? LastAtOrBefore(DateTimeOffset time)
    {
        for (var i = _count - 1; i >= 0; i--)
        {
            var entry = At(i);
            if (entry.Sample.At <= time) return entry;
        }
        return null;
    }

    // 0 is the oldest entry kept.
    private Entry At(int index) => _entries[(_next - _count + index + _entries.Length) % _entries.Length];
}
