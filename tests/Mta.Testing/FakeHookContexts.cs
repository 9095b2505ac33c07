// A session and a transaction as hooks see them, without a server: for unit tests of plugins and scripts.
using System.Net;
using Mta.Abstractions;

namespace Mta.Testing;

/// <summary>An <see cref="ISessionInfo"/> with plain values: an ESMTP client on loopback, not trusted, no TLS, no AUTH;
/// each can be set.</summary>
public sealed class FakeSession : ISessionInfo
{
    public string SessionId { get; init; } = "test";
    public string ListenerName { get; init; } = "smtp";
    public IPEndPoint RemoteEndPoint { get; init; } = new(IPAddress.Loopback, 40000);
    public IPEndPoint LocalEndPoint { get; init; } = new(IPAddress.Loopback, 25);
    public string? HeloName { get; init; } = "client.test";
    public bool IsExtended { get; init; } = true;
    public TlsInfo? Tls { get; init; }
    public string? AuthenticatedUser { get; init; }
    public bool IsTrustedClient { get; init; }
    public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
}

/// <summary>An <see cref="ITransaction"/> that keeps what hooks add: a MAIL from sender@remote.test unless set.</summary>
public sealed class FakeTransaction : ITransaction
{
    private readonly List<EnvelopeRecipient> _recipients = [];
    private readonly List<KeyValuePair<string, string>> _headers = [];

    public TransactionKind Kind { get; init; } = TransactionKind.Mail;
    public SmtpAddress ReversePath { get; init; } = new("sender", "remote.test");
    public IReadOnlyDictionary<string, string?> MailParameters { get; init; } = new Dictionary<string, string?>();
    public IReadOnlyList<EnvelopeRecipient> Recipients => _recipients;
    public IReadOnlyList<KeyValuePair<string, string>> AddedHeaders => _headers;
    public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
    public MessageAuthentication? Authentication { get; init; }

    public void AddRecipient(EnvelopeRecipient recipient) => _recipients.Add(recipient);
    public bool RemoveRecipient(SmtpAddress address) => _recipients.RemoveAll(r => r.Address == address) > 0;
    public void AddHeader(string name, string value) => _headers.Add(new(name, value));
}
