// The envelope stored beside each message in the spool, serialised as JSON with a source-generated context.
using System.Text.Json.Serialization;
using Mta.Abstractions;

namespace Mta.Engine.Spool;

/// <summary>Everything the queue needs to deliver a message besides its bytes.</summary>
/// <param name="QueueId">The id given in <c>250 2.0.0 Ok: queued as ID</c>.</param>
/// <param name="Kind">MAIL, SEND, SOML or SAML.</param>
/// <param name="ReceivedAt">When the message was accepted; the queue lifetime counts from here.</param>
/// <param name="ReversePath">The reverse-path; <see cref="SmtpAddress.Null"/> for <c>&lt;&gt;</c>.</param>
/// <param name="MailParameters">MAIL parameters keyed upper case (SIZE, BODY, RET, ENVID, ...).</param>
/// <param name="Recipients">The recipients, in order; their index is how per-recipient outcomes are journaled.</param>
/// <param name="ClientAddress">The client's IP address.</param>
/// <param name="HeloName">The HELO/EHLO argument, if any.</param>
/// <param name="AuthenticatedUser">The AUTH identity, if any.</param>
/// <param name="Notification">Set on a message this server generated: <c>dsn</c> for a DSN to a sender,
/// <c>double-bounce</c> for a postmaster copy of an undeliverable DSN. Null for mail received from a client.</param>
public sealed record SpoolEnvelope(
    string QueueId,
    TransactionKind Kind,
    DateTimeOffset ReceivedAt,
    SmtpAddress ReversePath,
    IReadOnlyDictionary<string, string?> MailParameters,
    IReadOnlyList<EnvelopeRecipient> Recipients,
    string ClientAddress,
    string? HeloName,
    string? AuthenticatedUser,
    string? Notification = null);

// IgnoreReadOnlyProperties keeps SmtpAddress's computed flags (IsNull, IsPostmaster...) out of the file.
[JsonSourceGenerationOptions(UseStringEnumConverter = true, IgnoreReadOnlyProperties = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpoolEnvelope))]
[JsonSerializable(typeof(Dictionary<string, string?>))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
