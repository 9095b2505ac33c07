// Read access to a received message for data_post and later hooks.
using MimeKit;

namespace Mta.Abstractions;

/// <summary>A received message as stored, readable as bytes or as a parsed MimeKit message.</summary>
public interface IMessageContent
{
    /// <summary>The size in octets, after dot-unstuffing, with CRLF line endings.</summary>
    long Size { get; }

    /// <summary>Opens the raw message (header and body, CRLF line endings) for reading.</summary>
    Stream OpenRead();

    /// <summary>The message parsed with MimeKit. Parsed on first use and cached.</summary>
    ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default);
}
