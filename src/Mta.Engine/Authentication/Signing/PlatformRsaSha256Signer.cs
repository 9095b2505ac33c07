// rsa-sha256 DKIM signatures through the platform's RSA (OpenSSL on Linux) behind the BouncyCastle signer MimeKit drives.
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Authentication.Signing;

/// <summary>
/// MimeKit's <c>DkimSigner</c> writes the canonicalized header into an <see cref="ISigner"/> and asks it for the
/// signature. BouncyCastle's RSA takes about 4 ms per 2048-bit signature here, the platform's about 0.25 ms: this
/// signer hashes what MimeKit writes (SHA-256) and signs the hash with <see cref="RSA"/> (PKCS#1 v1.5, as RFC 6376
/// 3.3.1 asks). Signing only; one instance per signature, as MimeKit creates them.
/// </summary>
internal sealed class PlatformRsaSha256Signer(RSAParameters key) : ISigner
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    // Converted once per loaded key; the table follows the key store's key objects, not their (record) equality.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DkimSigningKey, object> PlatformKeys = new();

    /// <summary>A signer for <paramref name="key"/>, or null when it is not an RSA key with CRT parameters (as every PEM
    /// key is): the caller then signs with BouncyCastle.</summary>
    public static PlatformRsaSha256Signer? For(DkimSigningKey key)
    {
        if (key.Algorithm != Configuration.DkimKeyAlgorithm.Rsa || key.PrivateKey is not RsaPrivateCrtKeyParameters crt) return null;
        var parameters = (RSAParameters)PlatformKeys.GetValue(key, _ => DotNetUtilities.ToRSAParameters(crt));
        return new PlatformRsaSha256Signer(parameters);
    }

    public string AlgorithmName => "SHA-256withRSA";

    public void Init(bool forSigning, ICipherParameters parameters)
    {
        if (!forSigning) throw new NotSupportedException("this signer only signs");
    }

    public void Update(byte input) => _hash.AppendData([input]);

    public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

    public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

    public int GetMaxSignatureSize() => key.Modulus!.Length;

    public byte[] GenerateSignature()
    {
        // A fresh RSA object per signature: instances are not documented thread-safe, and importing the key is cheap next
        // to the private-key operation.
        using var rsa = RSA.Create(key);
        return rsa.SignHash(_hash.GetHashAndReset(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public bool VerifySignature(byte[] signature) => throw new NotSupportedException("this signer only signs");

    public void Reset() => _hash.GetHashAndReset();
}
