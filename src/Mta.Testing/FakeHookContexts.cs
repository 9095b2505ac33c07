// A session and a transaction as hooks see them, without a server: for unit tests of plugins and scripts.
using System.Net;
using Mta.Abstractions;

namespace Mta.Testing;

/// <summary>An <see cref="ISessionInfo"/> with plain values: an ESMTP client on loopback, not trusted, no TLS, no AUTH;
/// each can be set.</summary>
public sealed class FakeSession : ISessionInfo
{
    /// <inheritdoc/>
    public string SessionId { get; init; } = "test";
    /// <inheritdoc/>
    public string ListenerName { get; init; } = "smtp";
    /// <inheritdoc/>
    public IPEndPoint RemoteEndPoint { get; init; } = new(IPAddress.Loopback, 40000);
    /// <inheritdoc/>
    public IPEndPoint LocalEndPoint { get; init; } = new(IPAddress.Loopback, 25);
    /// <inheritdoc/>
    public string? HeloName { get; init; } = "client.test";
    /// <inheritdoc/>
    public bool IsExtended { get; init; } = true;
    /// <inheritdoc/>
    public TlsInfo? Tls { get; init; }
    /// <inheritdoc/>
    public string? AuthenticatedUser { get; init; }
    /// <inheritdoc/>
    public bool IsTrustedClient { get; init; }
    /// <inheritdoc/>
    public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
}

/// <summary>An <see cref="ITransaction"/> that keeps what hooks add: a MAIL from sender@remote.test unless set.</summary>
public sealed class FakeTransaction : ITransaction
{
    private readonly List<EnvelopeRecipient> _recipients = [];
    private readonly List<KeyValuePair<string, string>> _headers = [];

    /// <inheritdoc/>
    public TransactionKind Kind { get; init; } = TransactionKind.Mail;
    /// <inheritdoc/>
    public SmtpAddress ReversePath { get; init; } = new("sender", "remote.test");
    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string?> MailParameters { get; init; } = new Dictionary<string, string?>();
    /// <inheritdoc/>
    public IReadOnlyList<EnvelopeRecipient> Recipients => _recipients;
    /// <inheritdoc/>
    public IReadOnlyList<KeyValuePair<string, string>> AddedHeaders => _headers;
    /// <inheritdoc/>
    public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
    /// <inheritdoc/>
    public MessageAuthentication? Authentication { get; init; }

    /// <inheritdoc/>
    public void AddRecipient(EnvelopeRecipient recipient) => _recipients.Add(recipient);
    /// <inheritdoc/>
    public bool RemoveRecipient(SmtpAddress address) => _recipients.RemoveAll(r => r.Address == address) > 0;
    /// <inheritdoc/>
    public void AddHeader(string name, string value) => _headers.Add(new(name, value));
}
