// The envelope stored beside each message in the spool, serialised as JSON with a source-generated context.
using System.Text.Json.Serialization;
using Mta.Abstractions;
using Mta.Protocol;

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
/// <param name="Quarantine">Why a milter quarantined the message (SMFIR_QUARANTINE): its recipients start held, until
/// the operator releases them. Null for a message nobody quarantined.</param>
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
    string? Notification = null,
    string? Quarantine = null)
{
    /// <summary>BODY as given on MAIL (8BITMIME needs a next hop that offers it).</summary>
    public BodyType Body => MailParameters.TryGetValue("BODY", out var b) && b is not null
        ? b.ToUpperInvariant() switch { "8BITMIME" => BodyType.EightBitMime, "7BIT" => BodyType.SevenBit, "BINARYMIME" => BodyType.BinaryMime, _ => BodyType.Unspecified }
        : BodyType.Unspecified;

    /// <summary>DSN RET as given on MAIL.</summary>
    public DsnReturn Ret => MailParameters.TryGetValue("RET", out var r) && r is not null
        ? r.ToUpperInvariant() switch { "FULL" => DsnReturn.Full, "HDRS" => DsnReturn.Headers, _ => DsnReturn.Unspecified }
        : DsnReturn.Unspecified;

    /// <summary>DSN ENVID as given on MAIL, xtext-decoded; null when absent or not valid xtext.</summary>
    public string? EnvelopeId => MailParameters.TryGetValue("ENVID", out var e) && e is not null && Xtext.TryDecode(e, out var decoded) ? decoded : null;

    /// <summary>MAIL carried SMTPUTF8.</summary>
    public bool SmtpUtf8 => MailParameters.ContainsKey("SMTPUTF8");
}

// IgnoreReadOnlyProperties keeps SmtpAddress's computed flags (IsNull, IsPostmaster...) out of the file.
[JsonSourceGenerationOptions(UseStringEnumConverter = true, IgnoreReadOnlyProperties = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpoolEnvelope))]
[JsonSerializable(typeof(Dictionary<string, string?>))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
