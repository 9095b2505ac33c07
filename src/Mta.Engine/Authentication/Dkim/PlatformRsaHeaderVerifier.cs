// Verifies an rsa-sha256 DKIM header signature with the platform's RSA: RFC 6376 header canonicalization and hash, OpenSSL verify.
using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Authentication.Dkim;

/// <summary>
/// MimeKit verifies a DKIM header signature with BouncyCastle's RSA, which takes about 0.29 ms for a 2048-bit key here
/// (most of the cost of checking incoming mail, bench/README.md), and offers no hook to hand it elsewhere. This class
/// computes the same data (RFC 6376 3.7: the signed header fields chosen bottom-up as 5.4.2 says, then the signature
/// field with an empty <c>b=</c>, each canonicalized per 3.4.1 or 3.4.2) and verifies it with
/// <see cref="RSA"/>. Only a pass is trusted: a mismatch here goes back to MimeKit's own check, so a canonicalization
/// corner this class gets wrong can cost time, never a false fail.
/// </summary>
internal static class PlatformRsaHeaderVerifier
{
    /// <summary>True when the signature verifies; false when it does not or this class cannot tell.</summary>
    public static bool Verifies(MimeMessage message, Header signature, IReadOnlyList<string> signedHeaders,
        DkimCanonicalizationAlgorithm canonicalization, string b, RsaKeyParameters key)
    {
        byte[] signatureBytes;
        try
        {
            signatureBytes = Convert.FromBase64String(b);
        }
        catch (FormatException)
        {
            return false;
        }
        var relaxed = canonicalization == DkimCanonicalizationAlgorithm.Relaxed;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // MimeKit keeps the Content-* fields with the body entity, not the message's own header list; together they are
        // the message's header section (in an order that matters only if one name were in both, where a mismatch here
        // falls back to MimeKit's check).
        var fields = message.Body is { } body ? [.. message.Headers, .. body.Headers] : message.Headers.ToList();
        var used = new HashSet<int>();
        foreach (var name in signedHeaders)
        {
            // RFC 6376 5.4.2: each listed name takes the last instance not yet taken; a name with none left adds nothing.
            for (var i = fields.Count - 1; i >= 0; i--)
            {
                var header = fields[i];
                if (used.Contains(i) || !header.Field.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase)) continue;
                used.Add(i);
                hash.AppendData(Canonical(header.RawField, header.RawValue, relaxed, withoutB: false, finalCrlf: true));
                break;
            }
        }
        hash.AppendData(Canonical(signature.RawField, signature.RawValue, relaxed, withoutB: true, finalCrlf: false));
        if (PlatformRsaKeys.For(key) is not { } rsa) return false;
        return rsa.VerifyHash(hash.GetHashAndReset(), signatureBytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    /// <summary>One field canonicalized: <c>simple</c> as it is, <c>relaxed</c> with the name lower-cased, the value
    /// unfolded, whitespace runs as one space and none at either end (RFC 6376 3.4.1, 3.4.2).</summary>
    internal static byte[] Canonical(byte[] rawField, byte[] rawValue, bool relaxed, bool withoutB, bool finalCrlf)
    {
        // Header values are octets; Latin-1 maps each to one char and back unchanged.
        var value = Encoding.Latin1.GetString(rawValue);
        if (value.EndsWith("\r\n", StringComparison.Ordinal)) value = value[..^2];
        else if (value.EndsWith('\n')) value = value[..^1];
        if (withoutB) value = WithoutSignatureValue(value);
        string text;
        if (relaxed)
        {
            var name = Encoding.Latin1.GetString(rawField).TrimEnd(' ', '\t').ToLowerInvariant();
            var sb = new StringBuilder(value.Length);
            var space = false;
            foreach (var c in value)
            {
                if (c is '\r' or '\n') continue; // unfolding
                if (c is ' ' or '\t') { space = true; continue; }
                if (space && sb.Length > 0) sb.Append(' ');
                space = false;
                sb.Append(c);
            }
            text = name + ":" + sb;
        }
        else
        {
            text = Encoding.Latin1.GetString(rawField) + ":" + value;
        }
        if (finalCrlf) text += "\r\n";
        return Encoding.Latin1.GetBytes(text);
    }

    /// <summary>The field value with everything between <c>b=</c> and the next <c>;</c> (or the end) removed, surrounding
    /// whitespace included (RFC 6376 3.7); <c>bh=</c> and every other tag untouched.</summary>
    internal static string WithoutSignatureValue(string value)
    {
        var start = 0;
        while (start <= value.Length)
        {
            var end = value.IndexOf(';', start);
            if (end < 0) end = value.Length;
            var equals = value.IndexOf('=', start);
            if (equals >= 0 && equals < end && value.AsSpan(start, equals - start).Trim(" \t\r\n").SequenceEqual("b"))
                return value[..(equals + 1)] + value[end..];
            start = end + 1;
        }
        return value;
    }
}
