// The BDAT chunker: full chunks, the last one known before it is sent, short reads, empty messages.
using Mta.Engine.Outbound.Client;

namespace Mta.Engine.Tests.Outbound.Client;

public sealed class MessageChunkReaderTests
{
    private static async Task<List<(byte[] Bytes, bool Last)>> ChunksOf(Stream stream, int chunkSize)
    {
        var chunks = new List<(byte[], bool)>();
        using var reader = new MessageChunkReader(stream, chunkSize);
        while (await reader.ReadNextAsync(TestContext.Current.CancellationToken))
            chunks.Add((reader.Current.ToArray(), reader.IsLast));
        Assert.False(await reader.ReadNextAsync(TestContext.Current.CancellationToken));
        Assert.Equal(chunks.Sum(c => ((byte[])c.Item1).Length), reader.TotalRead);
        Assert.Equal(chunks.Count, reader.Chunks);
        return chunks;
    }

    private static byte[] Bytes(int count) => [.. Enumerable.Range(0, count).Select(i => (byte)i)];

    [Theory]
    [InlineData(0, new[] { 0 })]
    [InlineData(1, new[] { 1 })]
    [InlineData(3, new[] { 3 })]
    [InlineData(4, new[] { 4 })]
    [InlineData(5, new[] { 4, 1 })]
    [InlineData(8, new[] { 4, 4 })]
    [InlineData(13, new[] { 4, 4, 4, 1 })]
    public async Task Chunk_sizes_and_the_last_flag(int length, int[] sizes)
    {
        var bytes = Bytes(length);
        var chunks = await ChunksOf(new MemoryStream(bytes), 4);
        Assert.Equal(sizes, chunks.Select(c => c.Bytes.Length));
        // Only the final chunk says LAST, and a message of whole chunks needs no empty chunk after them.
        Assert.Equal(chunks.Select((_, i) => i == chunks.Count - 1), chunks.Select(c => c.Last));
        Assert.Equal(bytes, chunks.SelectMany(c => c.Bytes));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public async Task Short_reads_still_fill_whole_chunks(int readSize)
    {
        var bytes = Bytes(1000);
        var chunks = await ChunksOf(new TrickleStream(bytes, readSize), 64);
        Assert.All(chunks[..^1], c => Assert.Equal(64, c.Bytes.Length));
        Assert.Equal(1000 % 64, chunks[^1].Bytes.Length);
        Assert.Equal(bytes, chunks.SelectMany(c => c.Bytes));
    }

    [Fact]
    public async Task Disposed_reader_refuses_to_read()
    {
        var reader = new MessageChunkReader(new MemoryStream(Bytes(10)), 4);
        reader.Dispose();
        reader.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await reader.ReadNextAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Gives at most a few octets per read, as a slow disk or a decrypting stream may.</summary>
    private sealed class TrickleStream(byte[] bytes, int readSize) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, readSize), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
