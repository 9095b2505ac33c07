// A DKIM public key record (RFC 6376 section 3.6.1, RFC 8463): parsed from the TXT record, its key decoded on demand.
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Authentication.Dkim;

/// <summary>
/// The TXT record at <c>selector._domainkey.domain</c>. <see cref="TryParse"/> checks the syntax (tag-list, <c>v=</c> first
/// and <c>DKIM1</c>, <c>p=</c> present and base64); whether the record is usable for a given signature (key type, hash,
/// service, revocation) is for the verifier to ask: an unknown <c>k=</c> parses but has no key.
/// </summary>
public sealed class DkimKeyRecord
{
    private readonly Lazy<(AsymmetricKeyParameter? Key, int Bits, string? Error)> _key;

    private DkimKeyRecord(string keyType, IReadOnlyList<string>? hashes, IReadOnlyList<string> services,
        IReadOnlyList<string> flags, string publicKeyData, string? notes)
    {
        KeyType = keyType;
        HashAlgorithms = hashes;
        ServiceTypes = services;
        Flags = flags;
        PublicKeyData = publicKeyData;
        Notes = notes;
        _key = new(DecodeKeyCached);
    }

    /// <summary><c>k=</c>, lower-cased: <c>rsa</c> (the default), <c>ed25519</c>, or another type this verifier cannot use.</summary>
    public string KeyType { get; }

    /// <summary><c>h=</c>: the hash algorithms the key may be used with, lower-cased; null when the tag is absent (all allowed).</summary>
    public IReadOnlyList<string>? HashAlgorithms { get; }

    /// <summary><c>s=</c>: service types, lower-cased; <c>*</c> by default.</summary>
    public IReadOnlyList<string> ServiceTypes { get; }

    /// <summary><c>t=</c>: flags as written (unknown ones kept, and ignored).</summary>
    public IReadOnlyList<string> Flags { get; }

    /// <summary><c>p=</c> with whitespace removed; empty when the key was revoked.</summary>
    public string PublicKeyData { get; }

    /// <summary><c>n=</c>, or null.</summary>
    public string? Notes { get; }

    /// <summary>True when <c>p=</c> is empty: the key was revoked (RFC 6376 3.6.1).</summary>
    public bool IsRevoked => PublicKeyData.Length == 0;

    /// <summary><c>t=y</c>: the domain is testing DKIM; verifiers must not treat mail differently for a failure.</summary>
    public bool IsTesting => Flags.Contains("y");

    /// <summary><c>t=s</c>: the <c>i=</c> domain of a signature must equal <c>d=</c>, not be a subdomain of it.</summary>
    public bool IsStrictIdentity => Flags.Contains("s");

    /// <summary>True for the key types this verifier knows: <c>rsa</c> and <c>ed25519</c>.</summary>
    public bool IsKnownKeyType => KeyType is "rsa" or "ed25519";

    /// <summary>True when the record allows email signatures (<c>s=*</c> or <c>s=email</c>).</summary>
    public bool AllowsEmail => ServiceTypes.Contains("*") || ServiceTypes.Contains("email");

    /// <summary>True when <c>h=</c> is absent or lists <paramref name="hash"/> (e.g. <c>sha256</c>).</summary>
    public bool AllowsHash(string hash) => HashAlgorithms is null || HashAlgorithms.Contains(hash, StringComparer.OrdinalIgnoreCase);

    /// <summary>The RSA modulus size in bits, 256 for ed25519, or 0 when the key cannot be decoded.</summary>
    public int KeyBits => _key.Value.Bits;

    /// <summary>The decoded public key: RSA from a SubjectPublicKeyInfo (or, leniently, a bare PKCS#1 RSAPublicKey), ed25519
    /// from the raw 32 octets (RFC 8463 section 4.2). Reports a revoked, unknown-type or undecodable key as an error.</summary>
    public bool TryGetPublicKey(out AsymmetricKeyParameter? key, out string? error)
    {
        (key, _, error) = _key.Value;
        return key is not null;
    }

    /// <summary>Parses a key record. Never throws.</summary>
    /// <param name="text">The TXT record, its strings joined.</param>
    /// <param name="record">The record, or null when malformed.</param>
    /// <param name="error">Why it is malformed, or null.</param>
    public static bool TryParse(string text, out DkimKeyRecord? record, out string? error)
    {
        record = null;
        if (!DkimTagList.TryParse(text, out var tags, out error)) return false;

        string keyType = "rsa", publicKey = "";
        string? notes = null;
        IReadOnlyList<string>? hashes = null;
        IReadOnlyList<string> services = ["*"], flags = [];
        var hasKey = false;
        for (var i = 0; i < tags!.Count; i++)
        {
            var (name, value) = (tags[i].Key, tags[i].Value);
            switch (name)
            {
                case "v":
                    // RFC 6376 3.6.1: if present, v= MUST be the first tag and MUST be DKIM1.
                    if (i != 0) { error = "v= is not the first tag"; return false; }
                    if (value != "DKIM1") { error = $"unknown version v={(value.Length <= 20 ? value : value[..20] + "...")}"; return false; }
                    break;
                case "h": hashes = SplitList(value); break;
                case "k": keyType = value.ToLowerInvariant(); break;
                case "n": notes = value; break;
                case "p":
                    publicKey = DkimTagList.RemoveWhitespace(value);
                    if (publicKey.Length > 0 && !DkimTagList.IsBase64(publicKey)) { error = "p= is not base64"; return false; }
                    hasKey = true;
                    break;
                case "s": services = SplitList(value); break;
                case "t": flags = SplitList(value); break;
            }
        }
        if (!hasKey) { error = "no p= tag"; return false; }
        record = new DkimKeyRecord(keyType, hashes, services, flags, publicKey, notes);
        return true;
    }

    private static string[] SplitList(string value) =>
        [.. DkimTagList.RemoveWhitespace(value).ToLowerInvariant().Split(':', StringSplitOptions.RemoveEmptyEntries)];

    // BouncyCastle checks an RSA modulus whenever a key object is built (about 14 ms for 2048 bits, against 0.3 ms for
    // the verification itself), and a domain's key record comes back from DNS for every message it signs: decoded keys
    // are kept by their record data. Key objects are immutable, so sharing them between threads is safe.
    private const int MaxCachedKeys = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Type, string Data), (AsymmetricKeyParameter? Key, int Bits, string? Error)> DecodedKeys = new();

    private (AsymmetricKeyParameter? Key, int Bits, string? Error) DecodeKeyCached()
    {
        if (IsRevoked) return DecodeKey();
        var cacheKey = (KeyType, PublicKeyData);
        if (DecodedKeys.TryGetValue(cacheKey, out var decoded)) return decoded;
        decoded = DecodeKey();
        // A flood of distinct keys (someone publishing fresh ones per message) only costs the decoding they would have cost.
        if (DecodedKeys.Count >= MaxCachedKeys) DecodedKeys.Clear();
        DecodedKeys[cacheKey] = decoded;
        return decoded;
    }

    private (AsymmetricKeyParameter? Key, int Bits, string? Error) DecodeKey()
    {
        if (IsRevoked) return (null, 0, "the key was revoked (empty p=)");
        var data = Convert.FromBase64String(PublicKeyData);
        switch (KeyType)
        {
            case "ed25519":
                if (data.Length != Ed25519PublicKeyParameters.KeySize)
                    return (null, 0, $"an ed25519 key is 32 octets, not {data.Length}");
                try
                {
                    return (new Ed25519PublicKeyParameters(data), 256, null);
                }
                catch (ArgumentException)
                {
                    // BouncyCastle checks that the octets encode a point on the curve.
                    return (null, 0, "p= is not a valid ed25519 public key");
                }
            case "rsa":
                try
                {
                    var key = DecodeRsa(data);
                    if (key is null || key.IsPrivate) return (null, 0, "p= is not an RSA public key");
                    return (key, key.Modulus.BitLength, null);
                }
                catch (Exception)
                {
                    // BouncyCastle's ASN.1 decoding reports bad DER with several exception types; all mean the same here.
                    return (null, 0, "p= is not a valid RSA public key");
                }
            default:
                return (null, 0, $"unknown key type k={KeyType}");
        }
    }

    private static RsaKeyParameters? DecodeRsa(byte[] der)
    {
        var asn1 = Asn1Object.FromByteArray(der);
        if (asn1 is not Asn1Sequence sequence) return null;
        // RFC 6376 asks for a SubjectPublicKeyInfo; some publishers put the bare RSAPublicKey, which the widely used
        // verifiers accept too.
        if (sequence.Count == 2 && sequence[0] is DerInteger)
        {
            var bare = RsaPublicKeyStructure.GetInstance(sequence);
            return new RsaKeyParameters(false, bare.Modulus, bare.PublicExponent);
        }
        return PublicKeyFactory.CreateKey(SubjectPublicKeyInfo.GetInstance(sequence)) as RsaKeyParameters;
    }
}
