// SASL pieces shared by every mechanism (RFC 4954 section 4): strict base64, the "*" cancel line, the replies.
using System.Buffers;
using System.Text.Unicode;

namespace Mta.Protocol.Sasl;

/// <summary>Mechanism-independent SASL helpers for the SMTP AUTH exchange (RFC 4954).</summary>
public static class Sasl
{
    /// <summary>The PLAIN mechanism name (RFC 4616).</summary>
    public const string Plain = "PLAIN";

    /// <summary>The LOGIN mechanism name (draft-murchison-sasl-login).</summary>
    public const string Login = "LOGIN";

    /// <summary>The mechanisms Mta offers, in the form the EHLO <c>AUTH</c> keyword takes.</summary>
    public const string Mechanisms = "PLAIN LOGIN";

    /// <summary>The line a client sends to cancel an exchange (RFC 4954 section 4).</summary>
    public const string CancelLine = "*";

    /// <summary>Longest base64 response accepted: an AUTH line less its CRLF (RFC 4954 section 4).</summary>
    public const int MaxResponseChars = SmtpLimits.MaxAuthLine - 2;

    /// <summary>Longest decoded identity or password, octets. RFC 4616 requires at least 255; 8192 lets a pass phrase
    /// or token fill most of a 12288-octet AUTH line (RFC 4954 section 4). The hash cost hardly grows with it: PBKDF2
    /// hashes a key longer than a block once, before its iterations.</summary>
    public const int MaxFieldOctets = 8192;

    /// <summary>True when <paramref name="line"/> (without CRLF) is the client cancelling the exchange;
    /// the server then answers <see cref="SaslReplies.Cancelled"/>.</summary>
    public static bool IsCancel(ReadOnlySpan<char> line) => line is CancelLine;

    /// <summary>True for a mechanism Mta implements (the name as <c>AuthCommand.Mechanism</c> holds it, upper case).</summary>
    public static bool IsSupported(string mechanism) => mechanism is Plain or Login;

    /// <summary>Decodes a base64 response strictly: the RFC 4648 alphabet with padding, no white space, no line
    /// breaks (Convert would skip those silently). A lone <c>=</c> is the empty response (RFC 4954 section 4).</summary>
    /// <param name="base64">The response line without CRLF.</param>
    /// <param name="bytes">The decoded octets, or null on failure.</param>
    /// <param name="error">Why decoding failed (safe for a reply: it never echoes the data), or null.</param>
    public static bool TryDecodeBase64(ReadOnlySpan<char> base64, out byte[]? bytes, out string? error)
    {
        bytes = null;
        if (base64.Length > MaxResponseChars) { error = "Response too long"; return false; }
        if (base64 is "=") { bytes = []; error = null; return true; }
        if (base64.IsEmpty || base64.Length % 4 != 0 || base64.ContainsAnyExcept(Base64Chars))
        {
            error = "Invalid base64 data";
            return false;
        }
        var padding = base64.EndsWith("==") ? 2 : base64.EndsWith('=') ? 1 : 0;
        // '=' only as trailing padding.
        if (base64[..^padding].Contains('=')) { error = "Invalid base64 data"; return false; }
        var buffer = new byte[base64.Length / 4 * 3];
        if (!Convert.TryFromBase64Chars(base64, buffer, out var written)) { error = "Invalid base64 data"; return false; }
        bytes = written == buffer.Length ? buffer : buffer[..written];
        error = null;
        return true;
    }

    /// <summary>Decodes one SASL field as UTF-8 text, refusing invalid UTF-8, NUL, and over-long values.</summary>
    internal static bool TryDecodeField(ReadOnlySpan<byte> octets, string what, out string? value, out string? error)
    {
        value = null;
        if (octets.Length > MaxFieldOctets) { error = $"{what} too long"; return false; }
        if (octets.Contains((byte)0)) { error = $"{what} contains NUL"; return false; }
        if (!Utf8.IsValid(octets)) { error = $"{what} is not valid UTF-8"; return false; }
        value = System.Text.Encoding.UTF8.GetString(octets);
        error = null;
        return true;
    }

    private static readonly SearchValues<char> Base64Chars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
}
