// The replies of the AUTH exchange (RFC 4954 sections 4 and 6), in one place so the session writes no literals.
namespace Mta.Protocol.Sasl;

/// <summary>Every reply the AUTH command can give, with the code and enhanced code RFC 4954 assigns.</summary>
public static class SaslReplies
{
    /// <summary>The wire bytes <c>334 SP CRLF</c>: an empty challenge, "send your PLAIN response" when AUTH PLAIN came
    /// without one. Raw bytes because RFC 4954's grammar (<c>"334" SP [base64]</c>) needs the space that
    /// <see cref="SmtpReply"/> drops from an empty last line.</summary>
    public static ReadOnlySpan<byte> EmptyChallenge => "334 \r\n"u8;

    /// <summary>235 2.7.0: authenticated.</summary>
    public static readonly SmtpReply Succeeded = new(235, EnhancedStatusCode.AuthenticationSucceeded, "Authentication successful");

    /// <summary>501 5.7.0: the client sent <c>*</c> (RFC 4954 section 4).</summary>
    public static readonly SmtpReply Cancelled = new(501, EnhancedStatusCode.SecurityError, "Authentication cancelled");

    /// <summary>535 5.7.8: wrong user or password; the same text for both so it reveals nothing.</summary>
    public static readonly SmtpReply InvalidCredentials = new(535, EnhancedStatusCode.AuthenticationCredentialsInvalid, "Authentication credentials invalid");

    /// <summary>504 5.5.4: a mechanism Mta does not offer.</summary>
    public static readonly SmtpReply UnsupportedMechanism = new(504, EnhancedStatusCode.InvalidCommandArguments, "Unrecognized authentication type");

    /// <summary>503 5.5.1: AUTH after a successful AUTH, or inside a mail transaction (RFC 4954 section 4).</summary>
    public static readonly SmtpReply AlreadyAuthenticated = new(503, EnhancedStatusCode.BadSequence, "Already authenticated");

    /// <summary>503 5.5.1: AUTH during a mail transaction.</summary>
    public static readonly SmtpReply NotDuringTransaction = new(503, EnhancedStatusCode.BadSequence, "AUTH not permitted during a mail transaction");

    /// <summary>530 5.7.0: the listener requires AUTH before MAIL.</summary>
    public static readonly SmtpReply Required = new(530, EnhancedStatusCode.SecurityError, "Authentication required");

    /// <summary>538 5.7.11: AUTH PLAIN or LOGIN in clear text where the listener does not allow it.</summary>
    public static readonly SmtpReply EncryptionRequired = new(538, EnhancedStatusCode.EncryptionRequiredForMechanism, "Encryption required for requested authentication mechanism");

    /// <summary>454 4.7.0: too many failures from this client for now (per-IP limit), or the user store is unavailable.</summary>
    public static readonly SmtpReply TemporaryFailure = new(454, EnhancedStatusCode.TemporarySecurityError, "Temporary authentication failure");

    /// <summary>421 4.7.0: the per-IP failure limit is reached and the session is closed.</summary>
    public static readonly SmtpReply TooManyFailures = new(421, EnhancedStatusCode.TemporarySecurityError, "Too many authentication failures, closing connection");

    /// <summary>501 5.5.2 with the decoder's reason (never the data itself).</summary>
    public static SmtpReply Malformed(string why) => new(501, EnhancedStatusCode.SyntaxError, why);
}
