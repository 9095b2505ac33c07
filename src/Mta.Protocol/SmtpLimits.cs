// The size limits of RFC 5321 section 4.5.3.1 (and RFC 4954 for AUTH), in octets.
namespace Mta.Protocol;

/// <summary>Protocol size limits. RFC 5321 states them as minimums a server must accept; Mta honours exactly these.</summary>
public static class SmtpLimits
{
    /// <summary>Local part of a mailbox, octets (RFC 5321 4.5.3.1.1).</summary>
    public const int MaxLocalPart = 64;

    /// <summary>Domain, octets (RFC 5321 4.5.3.1.2).</summary>
    public const int MaxDomain = 255;

    /// <summary>Reverse- or forward-path including the angle brackets, octets (RFC 5321 4.5.3.1.3).</summary>
    public const int MaxPath = 256;

    /// <summary>Command line including CRLF, octets (RFC 5321 4.5.3.1.4).</summary>
    public const int MaxCommandLine = 512;

    /// <summary>AUTH command line (and SASL response lines) including CRLF, octets (RFC 4954 section 4).</summary>
    public const int MaxAuthLine = 12288;

    /// <summary>Reply line including CRLF, octets (RFC 5321 4.5.3.1.5).</summary>
    public const int MaxReplyLine = 512;

    /// <summary>Text line of message content including CRLF, octets (RFC 5321 4.5.3.1.6).</summary>
    public const int MaxTextLine = 1000;

    /// <summary>Recipients a server must accept per transaction (RFC 5321 4.5.3.1.8).</summary>
    public const int MinRecipients = 100;

    /// <summary>Longest ENVID value, characters (RFC 3461 4.4).</summary>
    public const int MaxEnvelopeId = 100;
}
