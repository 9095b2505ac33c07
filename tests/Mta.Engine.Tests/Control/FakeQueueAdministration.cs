// An in-memory IQueueAdministration that records what the control commands asked of it.
using System.Collections.Concurrent;
using Mta.Engine.Control;

namespace Mta.Engine.Tests.Control;

internal sealed class FakeQueueAdministration : IQueueAdministration
{
    private readonly ConcurrentDictionary<string, (QueueEntrySnapshot Entry, byte[] Message)> _messages = new();
    private readonly List<string> _order = [];

    public ConcurrentQueue<(string? QueueId, string? Domain)> Flushes { get; } = new();

    public int FlushResult { get; set; }

    public void Add(QueueEntrySnapshot entry, byte[] message)
    {
        _messages[entry.QueueId] = (entry, message);
        lock (_order) _order.Add(entry.QueueId);
    }

    public IReadOnlyList<QueueEntrySnapshot> List()
    {
        lock (_order) return _order.Where(_messages.ContainsKey).Select(id => _messages[id].Entry).ToList();
    }

    public QueueEntrySnapshot? Find(string queueId) => _messages.TryGetValue(queueId, out var m) ? m.Entry : null;

    public Stream? OpenMessage(string queueId) => _messages.TryGetValue(queueId, out var m) ? new MemoryStream(m.Message, writable: false) : null;

    public int Flush(string? queueId = null, string? domain = null)
    {
        Flushes.Enqueue((queueId, domain));
        return FlushResult;
    }

    public Task<int> DeleteAsync(string queueId, CancellationToken cancellationToken) =>
        Task.FromResult(_messages.TryRemove(queueId, out var m) ? m.Entry.Recipients.Count(r => r.State.IsPending()) : 0);

    public ConcurrentQueue<(QueueQuery Query, int Offset, int Limit)> Searches { get; } = new();

    public QueuePage Search(QueueQuery query, int offset, int limit)
    {
        Searches.Enqueue((query, offset, limit));
        var matches = List().Where(e => query.Text is not { Length: > 0 } t || e.QueueId.Contains(t, StringComparison.OrdinalIgnoreCase)
            || e.Sender.Contains(t, StringComparison.OrdinalIgnoreCase) || e.Recipients.Any(r => r.Address.Contains(t, StringComparison.OrdinalIgnoreCase)))
            .Where(e => query.State is not { } s || e.Recipients.Any(r => r.State == s)).ToList();
        return new QueuePage(matches.Count, matches.Skip(offset).Take(limit).ToList());
    }

    public Task<int> HoldAsync(string queueId, CancellationToken cancellationToken) => Task.FromResult(Move(queueId, QueueRecipientState.Held));

    public Task<int> ReleaseAsync(string queueId, CancellationToken cancellationToken) => Task.FromResult(Move(queueId, QueueRecipientState.Ready));

    private int Move(string queueId, QueueRecipientState to)
    {
        if (!_messages.TryGetValue(queueId, out var m)) return 0;
        var moving = m.Entry.Recipients.Count(r => r.State.IsPending() && r.State != to);
        _messages[queueId] = (m.Entry with { Recipients = m.Entry.Recipients.Select(r => r.State.IsPending() ? r with { State = to } : r).ToList() }, m.Message);
        return moving;
    }
}
