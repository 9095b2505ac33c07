// The ESMTP parameters of MAIL and RCPT (RFC 1870, 6152, 3030, 6531, 3461, 4954), as parsed values.
using System.Collections.Frozen;
using Mta.Abstractions;

namespace Mta.Protocol;

/// <summary>The BODY parameter of MAIL (RFC 6152, RFC 3030).</summary>
public enum BodyType
{
    /// <summary>Not given.</summary>
    Unspecified,
    /// <summary><c>BODY=7BIT</c>.</summary>
    SevenBit,
    /// <summary><c>BODY=8BITMIME</c>.</summary>
    EightBitMime,
    /// <summary><c>BODY=BINARYMIME</c> (requires BDAT).</summary>
    BinaryMime,
}

/// <summary>The DSN RET parameter of MAIL (RFC 3461 4.3).</summary>
public enum DsnReturn
{
    /// <summary>Not given.</summary>
    Unspecified,
    /// <summary><c>RET=FULL</c>: return the whole message.</summary>
    Full,
    /// <summary><c>RET=HDRS</c>: return only the header.</summary>
    Headers,
}

/// <summary>The parameters given on MAIL FROM.</summary>
public sealed record MailParameters
{
    internal static readonly IReadOnlyDictionary<string, string?> NoRaw = FrozenDictionary<string, string?>.Empty;

    /// <summary>No parameters.</summary>
    public static MailParameters Empty { get; } = new();

    /// <summary>Declared message size in octets (RFC 1870); a value too large for a long is clamped to <see cref="long.MaxValue"/>.</summary>
    public long? Size { get; init; }

    /// <summary>Declared body type (RFC 6152).</summary>
    public BodyType Body { get; init; }

    /// <summary>SMTPUTF8 was given (RFC 6531).</summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>DSN RET (RFC 3461).</summary>
    public DsnReturn Ret { get; init; }

    /// <summary>DSN ENVID, xtext-decoded (RFC 3461).</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>AUTH= mailbox, xtext-decoded; <c>&lt;&gt;</c> when the client sent <c>AUTH=&lt;&gt;</c> (RFC 4954 5).</summary>
    public string? Auth { get; init; }

    /// <summary>Every parameter as given, keyword upper-cased; a keyword without value maps to null.</summary>
    public IReadOnlyDictionary<string, string?> Raw { get; init; } = NoRaw;
}

/// <summary>The parameters given on RCPT TO.</summary>
public sealed record RcptParameters
{
    /// <summary>No parameters.</summary>
    public static RcptParameters Empty { get; } = new();

    /// <summary>DSN NOTIFY (RFC 3461 4.1).</summary>
    public DsnNotify Notify { get; init; }

    /// <summary>DSN ORCPT as <c>addr-type;address</c> with the address xtext-decoded (RFC 3461 4.2).</summary>
    public string? OriginalRecipient { get; init; }

    /// <summary>Every parameter as given, keyword upper-cased; a keyword without value maps to null.</summary>
    public IReadOnlyDictionary<string, string?> Raw { get; init; } = MailParameters.NoRaw;
}
