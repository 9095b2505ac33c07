// rsa-sha256 signing through the platform's RSA (OpenSSL on Linux) behind the BouncyCastle ISigner MimeKit drives.
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Authentication.Signing;

/// <summary>
/// MimeKit's DKIM signer writes the canonicalized header into a BouncyCastle <see cref="ISigner"/> and asks it for the
/// signature. BouncyCastle's RSA costs about 4-6 ms per 2048-bit signature here, the platform's about 0.3 ms
/// (bench/README.md): this signer hashes what MimeKit writes (SHA-256) and signs the hash with <see cref="RSA"/>,
/// PKCS#1 v1.5 as RFC 6376 3.3.1 asks. One instance per signature, as MimeKit creates them; the platform key comes from
/// <see cref="PlatformRsaKeys"/>. (Verification has its own route: <c>Dkim.PlatformRsaHeaderVerifier</c>.)
/// </summary>
internal sealed class PlatformRsaSha256Signer : ISigner
{
    private readonly RSA _rsa;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private PlatformRsaSha256Signer(RSA rsa) => _rsa = rsa;

    /// <summary>A signer for an RSA private key with CRT parameters (every PEM key has them), else null: the caller then
    /// uses BouncyCastle's own.</summary>
    public static ISigner? ForSigning(AsymmetricKeyParameter key) =>
        key is RsaPrivateCrtKeyParameters crt && PlatformRsaKeys.For(crt) is { } rsa ? new PlatformRsaSha256Signer(rsa) : null;

    public string AlgorithmName => "SHA-256withRSA";

    public void Init(bool forSigning, ICipherParameters parameters)
    {
        if (!forSigning) throw new NotSupportedException("this signer only signs");
    }

    public void Update(byte input) => _hash.AppendData([input]);

    public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

    public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

    public int GetMaxSignatureSize() => (_rsa.KeySize + 7) / 8;

    public byte[] GenerateSignature() =>
        _rsa.SignHash(_hash.GetHashAndReset(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    public bool VerifySignature(byte[] signature) => throw new NotSupportedException("this signer only signs");

    public void Reset() => _hash.GetHashAndReset();
}
