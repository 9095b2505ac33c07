// The platform's RSA object for a BouncyCastle RSA key, built once per key object and per thread.
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Authentication;

/// <summary>
/// DKIM and ARC keys are BouncyCastle objects (MimeKit's currency), but signing and verifying with them through
/// System.Security.Cryptography (OpenSSL) costs a tenth as much. The converted key is kept per key object (signing keys
/// live in the key store, public keys in the DKIM key cache) and per thread: RSA instances are not documented as
/// thread-safe.
/// </summary>
internal static class PlatformRsaKeys
{
    private static readonly ConditionalWeakTable<RsaKeyParameters, ThreadLocal<RSA>> Keys = new();

    /// <summary>The platform RSA for a private key with CRT parameters (every PEM key has them) or a public key; null
    /// for a private key without them.</summary>
    public static RSA? For(RsaKeyParameters key)
    {
        if (key.IsPrivate && key is not RsaPrivateCrtKeyParameters) return null;
        return Keys.GetValue(key, static k => new ThreadLocal<RSA>(() => RSA.Create(k is RsaPrivateCrtKeyParameters crt
            ? DotNetUtilities.ToRSAParameters(crt)
            : new RSAParameters { Modulus = k.Modulus.ToByteArrayUnsigned(), Exponent = k.Exponent.ToByteArrayUnsigned() }))).Value;
    }
}
