// The DNS side of a DKIM key: its owner name, its TXT record text (RFC 6376 3.6.1, RFC 8463 4) and a zone-file line.
using System.Text;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.X509;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Builds what an operator publishes for a DKIM key.</summary>
public static class DkimDnsRecord
{
    // RFC 1035 3.3: a character-string is at most 255 octets; longer TXT data is several strings.
    private const int MaxStringLength = 255;

    /// <summary><c>SELECTOR._domainkey.DOMAIN</c> (RFC 6376 3.6.2.1), without a trailing dot.</summary>
    public static string Name(string selector, string domain) => $"{selector}._domainkey.{DkimKeyStore.NormalizeDomain(domain)}";

    /// <summary>The TXT record text for the public half of <paramref name="privateKey"/>: <c>v=DKIM1; k=rsa; p=BASE64</c>
    /// with the DER SubjectPublicKeyInfo for RSA, or <c>v=DKIM1; k=ed25519; p=BASE64</c> with the raw 32-byte public key
    /// (RFC 8463 4).</summary>
    public static string PublicKeyRecord(AsymmetricKeyParameter privateKey) => privateKey switch
    {
        RsaPrivateCrtKeyParameters rsa =>
            "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(
                SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(new RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent)).GetDerEncoded()),
        Ed25519PrivateKeyParameters ed => "v=DKIM1; k=ed25519; p=" + Convert.ToBase64String(ed.GeneratePublicKey().GetEncoded()),
        _ => throw new ArgumentException($"not an RSA or Ed25519 private key: {privateKey.GetType().Name}", nameof(privateKey)),
    };

    /// <summary>The algorithm of a private key, or null when it is neither RSA nor Ed25519.</summary>
    public static DkimKeyAlgorithm? AlgorithmOf(AsymmetricKeyParameter key) => key switch
    {
        RsaKeyParameters => DkimKeyAlgorithm.Rsa,
        Ed25519PrivateKeyParameters or Ed25519PublicKeyParameters => DkimKeyAlgorithm.Ed25519,
        _ => null,
    };

    /// <summary>A BIND zone-file line:
    /// <c>s1._domainkey.example.org. IN TXT ( "v=DKIM1; k=rsa; " "p=MIIB..." "..." )</c>. The record is cut before
    /// <c>p=</c> and then every 255 characters, so each quoted string is a valid character-string.</summary>
    public static string ZoneFileLine(string selector, string domain, string record)
    {
        var strings = new List<string>();
        var keyStart = record.IndexOf("p=", StringComparison.Ordinal);
        var head = keyStart > 0 ? record[..keyStart] : "";
        var rest = keyStart > 0 ? record[keyStart..] : record;
        for (var i = 0; i < head.Length; i += MaxStringLength) strings.Add(head.Substring(i, Math.Min(MaxStringLength, head.Length - i)));
        for (var i = 0; i < rest.Length; i += MaxStringLength) strings.Add(rest.Substring(i, Math.Min(MaxStringLength, rest.Length - i)));
        var line = new StringBuilder();
        line.Append(Name(selector, domain)).Append(". IN TXT (");
        // The record holds only base64, letters, digits and "=; " — nothing a zone file would need escaped.
        foreach (var s in strings) line.Append(" \"").Append(s).Append('"');
        line.Append(" )");
        return line.ToString();
    }
}
