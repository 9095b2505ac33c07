// Reads and writes DKIM private keys as PEM: RSA as PKCS#1 or PKCS#8, Ed25519 as PKCS#8 (what OpenSSL writes).
using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Authentication.Signing;

/// <summary>PEM encoding of DKIM private keys.</summary>
public static class DkimPrivateKeyPem
{
    /// <summary>Reads the first private key in PEM text: <c>RSA PRIVATE KEY</c> (PKCS#1) or <c>PRIVATE KEY</c> (PKCS#8, RSA or
    /// Ed25519).</summary>
    /// <exception cref="FormatException">No unencrypted private key is in the text.</exception>
    public static AsymmetricKeyParameter Read(string pem)
    {
        if (pem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal) || pem.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
            throw new FormatException("the private key is encrypted; Mta needs an unencrypted key (protected by the file's mode 0600)");
        object? read;
        try
        {
            using var reader = new PemReader(new StringReader(pem));
            read = reader.ReadObject();
        }
        catch (Exception ex) when (ex is IOException or PemException or InvalidCastException or ArgumentException or SecurityUtilityException)
        {
            throw new FormatException("not a PEM private key: " + ex.Message, ex);
        }
        var key = read switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter parameter => parameter,
            _ => null,
        };
        if (key is null || !key.IsPrivate)
            throw new FormatException(read is null ? "no PEM private key found" : $"the PEM holds a {read.GetType().Name}, not a private key");
        return key;
    }

    /// <summary>The key as PKCS#8 PEM (<c>-----BEGIN PRIVATE KEY-----</c>), lines of 64 characters, LF line ends.</summary>
    public static string Write(AsymmetricKeyParameter privateKey)
    {
        var der = PrivateKeyInfoFactory.CreatePrivateKeyInfo(privateKey).GetDerEncoded();
        var base64 = Convert.ToBase64String(der);
        var text = new StringBuilder("-----BEGIN PRIVATE KEY-----\n");
        for (var i = 0; i < base64.Length; i += 64) text.Append(base64, i, Math.Min(64, base64.Length - i)).Append('\n');
        return text.Append("-----END PRIVATE KEY-----\n").ToString();
    }
}
