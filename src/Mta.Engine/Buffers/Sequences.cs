// Joins separate memory blocks into one ReadOnlySequence without copying them.
using System.Buffers;

namespace Mta.Engine.Buffers;

public static class Sequences
{
    /// <summary>The blocks, in order, as one sequence; empty blocks are skipped.</summary>
    public static ReadOnlySequence<byte> Join(IEnumerable<ReadOnlyMemory<byte>> blocks)
    {
        Segment? first = null, last = null;
        foreach (var block in blocks)
        {
            if (block.IsEmpty) continue;
            if (last is null) first = last = new Segment(block, 0);
            else last = last.Append(block);
        }
        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
