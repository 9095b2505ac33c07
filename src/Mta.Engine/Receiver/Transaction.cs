// The mail transaction in progress, as hooks see and shape it.
using Mta.Abstractions;

namespace Mta.Engine.Receiver;

internal sealed class Transaction(TransactionKind kind, SmtpAddress reversePath, IReadOnlyDictionary<string, string?> mailParameters, bool utf8)
    : ITransaction
{
    private readonly List<EnvelopeRecipient> _recipients = [];
    private List<KeyValuePair<string, string>>? _addedHeaders;
    private Dictionary<string, object?>? _notes;

    public TransactionKind Kind { get; } = kind;
    // Settable for a milter's SMFIR_CHGFROM (sender and ESMTP arguments).
    public SmtpAddress ReversePath { get; set; } = reversePath;
    public IReadOnlyDictionary<string, string?> MailParameters { get; set; } = mailParameters;
    public bool Utf8 { get; } = utf8;
    public IReadOnlyList<EnvelopeRecipient> Recipients => _recipients;
    public IReadOnlyList<KeyValuePair<string, string>> AddedHeaders => (IReadOnlyList<KeyValuePair<string, string>>?)_addedHeaders ?? [];
    public IDictionary<string, object?> Notes => _notes ??= new(StringComparer.Ordinal);
    public MessageAuthentication? Authentication { get; set; }

    /// <summary>MAIL said <c>BODY=BINARYMIME</c>: the content comes by BDAT only and skips the text checks (RFC 3030 3).</summary>
    public bool Binary { get; init; }

    /// <summary>The decoder of the BDAT chunks received so far; null until the first BDAT (and for DATA).</summary>
    public Mta.Protocol.DataDecoder? Chunks { get; set; }

    /// <summary>RCPT commands refused in this transaction; DATA answers 554 rather than 503 when all were.</summary>
    public int RejectedRecipients { get; set; }

    /// <summary>The queue id given before the message is spooled, so milters get it (the <c>i</c> macro) from MAIL on
    /// as Postfix gives it; null: one is made when the message is queued.</summary>
    public string? QueueId { get; set; }

    /// <summary>The milter that discarded the message (SMFIR_DISCARD): it is answered 250 and dropped.</summary>
    public string? DiscardedBy { get; set; }

    /// <summary>The milter that quarantined the message (SMFIR_QUARANTINE) and its reason: it is queued on hold.</summary>
    public (string Milter, string Reason)? Quarantine { get; set; }

    public void AddRecipient(EnvelopeRecipient recipient) => _recipients.Add(recipient ?? throw new ArgumentNullException(nameof(recipient)));

    public bool RemoveRecipient(SmtpAddress address)
    {
        var i = _recipients.FindIndex(r => r.Address == address);
        if (i < 0) return false;
        _recipients.RemoveAt(i);
        return true;
    }

    public void AddHeader(string name, string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.Any(c => c is <= ' ' or >= (char)127 or ':'))
            throw new ArgumentException($"'{name}' is not a valid header field name.", nameof(name));
        // A bare CR or LF in a value would let a handler inject header lines or end the header early.
        var normalized = value.Replace("\r\n", "\n").Replace('\r', '\n');
        if (normalized.Split('\n').Skip(1).Any(line => line.Length == 0 || (line[0] != ' ' && line[0] != '\t')))
            throw new ArgumentException("Continuation lines of a header value must start with a space or tab.", nameof(value));
        (_addedHeaders ??= []).Add(new(name, normalized.Replace("\n", "\r\n")));
    }
}
