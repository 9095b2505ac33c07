// The queued messages in the order the queue took them in, walkable without a lock while mail comes and goes.
namespace Mta.Engine.Queue;

/// <summary>
/// The scheduler's messages, oldest first, as a doubly linked list. Messages arrive in commit order (recovery reads
/// the segments in the order they were written, then the spool hands over each commit), which is the order they were
/// accepted, so the list is sorted by arrival without ever sorting: a search pages through it at the cost of a walk,
/// not of an O(n log n) sort and a copy of the queue per request.
/// </summary>
/// <remarks>
/// Adding and removing take a lock; walking takes none. A removed node keeps its forward link, so a walker standing on
/// it goes on to what followed it (and on past any later removals) and never revisits a node: a walk sees every
/// message queued for its whole length once, may or may not see one that came or went meanwhile, and never throws.
/// </remarks>
internal sealed class ArrivalOrder
{
    // What a removed message points to instead of its node, so nothing it is still referenced from (a stale work item)
    // keeps its old node and, through the forward links, the messages removed after it alive.
    private static readonly Node Gone = new(null) { Removed = true };
    private readonly Node _head = new(null);
    private readonly Lock _gate = new();
    private Node _tail;
    private int _count;

    public ArrivalOrder() => _tail = _head;

    /// <summary>Messages in the list.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Appends a message (once: a message already in the list, or taken out of it, stays as it is).</summary>
    public void Add(QueuedMessage message)
    {
        lock (_gate)
        {
            if (message.Arrival is not null) return;
            var node = new Node(message) { Previous = _tail };
            message.Arrival = node;
            Volatile.Write(ref _tail.Next, node);
            _tail = node;
            _count++;
        }
    }

    /// <summary>Takes a message out; nothing when it is not in the list.</summary>
    public void Remove(QueuedMessage message)
    {
        lock (_gate)
        {
            if (message.Arrival is not { Removed: false } node) return;
            node.Removed = true;
            var previous = node.Previous!;
            Volatile.Write(ref previous.Next, node.Next);
            if (node.Next is { } next) next.Previous = previous;
            else _tail = previous;
            // Next stays: a walker on this node carries on from it. Previous goes, so nothing behind is kept alive by it.
            node.Previous = null;
            message.Arrival = Gone;
            _count--;
        }
    }

    /// <summary>The messages oldest first, as the walk finds them (see the remarks on the type).</summary>
    public IEnumerable<QueuedMessage> Walk()
    {
        for (var node = Volatile.Read(ref _head.Next); node is not null; node = Volatile.Read(ref node.Next))
        {
            if (!Volatile.Read(ref node.Removed)) yield return node.Message!;
        }
    }

    /// <summary>A message's place in the list.</summary>
    internal sealed class Node(QueuedMessage? message)
    {
        public readonly QueuedMessage? Message = message;
        public Node? Next;
        public Node? Previous;
        public bool Removed;
    }
}
