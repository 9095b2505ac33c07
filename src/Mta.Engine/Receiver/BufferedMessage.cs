// A received message still in memory, readable by data_post and queue hooks.
using System.Buffers;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Buffers;

namespace Mta.Engine.Receiver;

internal sealed class BufferedMessage(ReadOnlySequence<byte> content) : IMessageContent
{
    private MimeMessage? _parsed;

    public long Size => content.Length;

    public Stream OpenRead() => new SequenceStream(content);

    public async ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
        => _parsed ??= await MimeMessage.LoadAsync(OpenRead(), cancellationToken).ConfigureAwait(false);
}
