// Counts queued recipients into qshape's table: destination domain by message age in doubling buckets of minutes.
using Mta.Abstractions;

namespace Mta.Engine.Status;

/// <summary>
/// Builds a <see cref="QueueShape"/> one recipient at a time, so the status walks the queue once without copying it.
/// The buckets are qshape's defaults (first limit 5 minutes, each twice the one before, ten columns), so an operator
/// who knows qshape reads the table the same way.
/// </summary>
internal sealed class QueueShapeBuilder(DateTimeOffset now)
{
    /// <summary>qshape's default column limits in minutes; one more, open-ended column follows.</summary>
    public static readonly IReadOnlyList<int> BucketMinutes = [5, 10, 20, 40, 80, 160, 320, 640, 1280];

    private static readonly int Columns = BucketMinutes.Count + 1;
    private readonly Dictionary<string, long[]> _domains = new(Domain.NameComparer);
    private readonly long[] _total = new long[Columns];

    /// <summary>The column of a message that is <paramref name="age"/> old: the first whose limit it is under. A
    /// message from the future (the clock went back) counts as new.</summary>
    public static int BucketOf(TimeSpan age)
    {
        var minutes = age.TotalMinutes;
        for (var i = 0; i < BucketMinutes.Count; i++)
            if (minutes < BucketMinutes[i]) return i;
        return BucketMinutes.Count;
    }

    /// <summary>Counts one recipient in <paramref name="domain"/> of a message received at <paramref name="receivedAt"/>.</summary>
    public void Add(string domain, DateTimeOffset receivedAt)
    {
        var column = BucketOf(now - receivedAt);
        if (!_domains.TryGetValue(domain, out var row)) _domains[domain] = row = new long[Columns];
        row[column]++;
        _total[column]++;
    }

    /// <summary>The table with the <paramref name="top"/> domains holding most recipients (ties by name, so the order
    /// is stable from one run to the next) and the TOTAL row over all of them.</summary>
    public QueueShape Build(int top)
    {
        var rows = _domains
            .Select(d => Row(d.Key.Length == 0 ? "(none)" : d.Key.ToLowerInvariant(), d.Value))
            .OrderByDescending(r => r.Total).ThenBy(r => r.Domain, StringComparer.Ordinal)
            .Take(Math.Max(0, top))
            .ToArray();
        return new QueueShape(BucketMinutes, Row("TOTAL", _total), rows, _domains.Count);
    }

    private static QueueShapeRow Row(string domain, long[] counts) => new(domain, counts.Sum(), [.. counts]);
}
