// Client side of SMTP: the command lines a sender writes, with only the parameters the server announced.
using System.Globalization;
using System.Text;
using Mta.Abstractions;

namespace Mta.Protocol.Client;

/// <summary>
/// Formats client command lines, each ending in CRLF. MAIL and RCPT parameters are written only when the server's
/// <see cref="EhloCapabilities"/> offer the extension that defines them, so a caller can pass everything it knows
/// and let the capabilities decide. Addresses and values are written as given: callers pass validated values.
/// </summary>
public static class ClientCommands
{
    /// <summary><c>STARTTLS</c> (RFC 3207).</summary>
    public const string StartTls = "STARTTLS\r\n";

    /// <summary><c>DATA</c>.</summary>
    public const string Data = "DATA\r\n";

    /// <summary><c>RSET</c>.</summary>
    public const string Rset = "RSET\r\n";

    /// <summary><c>NOOP</c>.</summary>
    public const string Noop = "NOOP\r\n";

    /// <summary><c>QUIT</c>.</summary>
    public const string Quit = "QUIT\r\n";

    /// <summary>The line that ends message data (after the content's own final CRLF).</summary>
    public const string EndOfData = ".\r\n";

    /// <summary>
    /// <c>BDAT chunk-size [LAST]</c> (RFC 3030 2): announces the next <paramref name="chunkSize"/> octets of the message,
    /// sent as they are (no dot-stuffing) right after the line; <paramref name="last"/> marks the message's end.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is negative.</exception>
    public static string Bdat(long chunkSize, bool last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chunkSize);
        var size = chunkSize.ToString(CultureInfo.InvariantCulture);
        return last ? "BDAT " + size + " LAST\r\n" : "BDAT " + size + "\r\n";
    }

    /// <summary><c>EHLO domain</c>.</summary>
    public static string Ehlo(string domain) => "EHLO " + CheckDomain(domain) + "\r\n";

    /// <summary><c>LHLO domain</c>: LMTP's EHLO (RFC 2033 4.1).</summary>
    public static string Lhlo(string domain) => "LHLO " + CheckDomain(domain) + "\r\n";

    /// <summary><c>HELO domain</c>.</summary>
    public static string Helo(string domain) => "HELO " + CheckDomain(domain) + "\r\n";

    /// <summary><c>AUTH mechanism [initial-response]</c> (RFC 4954 4); an empty initial response is written as <c>=</c>.</summary>
    public static string Auth(string mechanism, string? initialResponse = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(mechanism);
        return initialResponse is null
            ? "AUTH " + mechanism + "\r\n"
            : "AUTH " + mechanism + " " + (initialResponse.Length == 0 ? "=" : initialResponse) + "\r\n";
    }

    /// <summary>
    /// <c>MAIL FROM:&lt;reverse-path&gt;</c> with the parameters the server supports:
    /// <c>SIZE=</c> (SIZE offered and <paramref name="size"/> given), <c>BODY=</c> (8BITMIME offered),
    /// <c>SMTPUTF8</c> (asked for and offered), <c>RET=</c> and <c>ENVID=</c> (DSN offered; ENVID in xtext).
    /// </summary>
    public static string MailFrom(
        SmtpAddress reversePath,
        EhloCapabilities capabilities,
        long? size = null,
        BodyType body = BodyType.Unspecified,
        bool smtpUtf8 = false,
        DsnReturn ret = DsnReturn.Unspecified,
        string? envelopeId = null)
    {
        ArgumentNullException.ThrowIfNull(reversePath);
        ArgumentNullException.ThrowIfNull(capabilities);
        var sb = new StringBuilder(64).Append("MAIL FROM:").Append(reversePath.ToPathString());
        if (size is >= 0 && capabilities.SizeOffered)
            sb.Append(" SIZE=").Append(size.Value.ToString(CultureInfo.InvariantCulture));
        // BODY=7BIT is defined by RFC 6152 too, so it also needs 8BITMIME; BINARYMIME needs BINARYMIME (RFC 3030).
        switch (body)
        {
            case BodyType.SevenBit when capabilities.EightBitMime:
                sb.Append(" BODY=7BIT");
                break;
            case BodyType.EightBitMime when capabilities.EightBitMime:
                sb.Append(" BODY=8BITMIME");
                break;
            case BodyType.BinaryMime when capabilities.BinaryMime:
                sb.Append(" BODY=BINARYMIME");
                break;
        }
        if (smtpUtf8 && capabilities.SmtpUtf8) sb.Append(" SMTPUTF8");
        if (capabilities.Dsn)
        {
            if (ret == DsnReturn.Full) sb.Append(" RET=FULL");
            else if (ret == DsnReturn.Headers) sb.Append(" RET=HDRS");
            if (!string.IsNullOrEmpty(envelopeId)) sb.Append(" ENVID=").Append(Xtext.Encode(envelopeId));
        }
        return sb.Append("\r\n").ToString();
    }

    /// <summary>
    /// <c>RCPT TO:&lt;forward-path&gt;</c> with <c>NOTIFY=</c> and <c>ORCPT=</c> when the server offers DSN.
    /// </summary>
    /// <param name="forwardPath">The recipient.</param>
    /// <param name="capabilities">What the server offers.</param>
    /// <param name="notify">DSN NOTIFY; <see cref="DsnNotify.Default"/> writes nothing, NEVER wins over the others.</param>
    /// <param name="originalRecipient">DSN ORCPT as <c>addr-type;address</c> with the address decoded (as received);
    /// written as <c>addr-type;</c> + xtext(address). A value without <c>;</c> is taken as an rfc822 address.</param>
    public static string RcptTo(SmtpAddress forwardPath, EhloCapabilities capabilities, DsnNotify notify = DsnNotify.Default, string? originalRecipient = null)
    {
        ArgumentNullException.ThrowIfNull(forwardPath);
        ArgumentNullException.ThrowIfNull(capabilities);
        var sb = new StringBuilder(64).Append("RCPT TO:").Append(forwardPath.ToPathString());
        if (capabilities.Dsn)
        {
            var notifyText = FormatNotify(notify);
            if (notifyText is not null) sb.Append(" NOTIFY=").Append(notifyText);
            if (!string.IsNullOrEmpty(originalRecipient)) sb.Append(" ORCPT=").Append(FormatOriginalRecipient(originalRecipient));
        }
        return sb.Append("\r\n").ToString();
    }

    /// <summary>The NOTIFY value (RFC 3461 4.1): <c>NEVER</c>, or SUCCESS, FAILURE, DELAY joined by commas; null for the default.</summary>
    public static string? FormatNotify(DsnNotify notify)
    {
        if (notify == DsnNotify.Default) return null;
        // NEVER cannot be combined with the others (RFC 3461 4.1); if both are set, NEVER is the safer reading.
        if (notify.HasFlag(DsnNotify.Never)) return "NEVER";
        var parts = new List<string>(3);
        if (notify.HasFlag(DsnNotify.Success)) parts.Add("SUCCESS");
        if (notify.HasFlag(DsnNotify.Failure)) parts.Add("FAILURE");
        if (notify.HasFlag(DsnNotify.Delay)) parts.Add("DELAY");
        return parts.Count == 0 ? null : string.Join(',', parts);
    }

    /// <summary>The ORCPT value (RFC 3461 4.2): <c>addr-type;</c> followed by the address in xtext.</summary>
    public static string FormatOriginalRecipient(string originalRecipient)
    {
        ArgumentNullException.ThrowIfNull(originalRecipient);
        var semicolon = originalRecipient.IndexOf(';');
        return semicolon < 0
            ? "rfc822;" + Xtext.Encode(originalRecipient)
            : originalRecipient[..semicolon] + ";" + Xtext.Encode(originalRecipient[(semicolon + 1)..]);
    }

    /// <summary>A command line as the octets to write (UTF-8: SMTPUTF8 addresses stay intact).</summary>
    public static byte[] ToBytes(string line) => Encoding.UTF8.GetBytes(line);

    // A CR or LF in the name would let configuration inject a command.
    private static string CheckDomain(string domain)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        if (domain.AsSpan().IndexOfAny('\r', '\n') >= 0 || domain.Contains(' '))
            throw new ArgumentException("A HELO/EHLO name cannot contain spaces or line breaks.", nameof(domain));
        return domain;
    }
}
