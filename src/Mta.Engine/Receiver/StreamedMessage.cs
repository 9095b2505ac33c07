// A received message read through a stream (a spilled body on disk), for data_post and queue hooks and verification.
using MimeKit;
using Mta.Abstractions;

namespace Mta.Engine.Receiver;

internal sealed class StreamedMessage(Func<Stream> open, long size) : IMessageContent, IDisposable
{
    private Stream? _parsedFrom;
    private MimeMessage? _parsed;

    public long Size => size;

    public Stream OpenRead() => open();

    public async ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
    {
        if (_parsed is not null) return _parsed;
        // Persistent: MimeKit keeps the parts as ranges of the stream instead of copying a large body into memory.
        _parsedFrom = open();
        return _parsed = await MimeMessage.LoadAsync(_parsedFrom, persistent: true, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _parsed?.Dispose();
        _parsedFrom?.Dispose();
    }
}
