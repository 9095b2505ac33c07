// The cipher suites the server offers: AEAD-only for TLS 1.2 by default, CBC only when asked for, TLS 1.3 as OpenSSL has it.
using System.Net.Security;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tls;

internal static class TlsCipherSuites
{
    /// <summary>TLS 1.3: OpenSSL's default set, listed because a CipherSuitesPolicy replaces the TLS 1.3 list too.</summary>
    public static readonly TlsCipherSuite[] Tls13 =
    [
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
    ];

    /// <summary>TLS 1.2 by default: forward secrecy (ECDHE) and AEAD only (AES-GCM, ChaCha20-Poly1305), ECDSA first.</summary>
    public static readonly TlsCipherSuite[] Aead =
    [
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];

    /// <summary>Added by <c>Tls:AllowCbcSuites</c>: still ECDHE, but AES-CBC with an HMAC, for clients without AEAD.</summary>
    public static readonly TlsCipherSuite[] Cbc =
    [
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
    ];

    /// <summary>The TLS 1.2 suites <paramref name="tls"/> asks for (names already validated).</summary>
    public static TlsCipherSuite[] Tls12(TlsOptions tls) => tls.CipherSuites is { Count: > 0 } names
        ? names.Select(n => Enum.Parse<TlsCipherSuite>(n.Trim())).ToArray()
        : tls.AllowCbcSuites ? [.. Aead, .. Cbc] : Aead;

    /// <summary>True when <paramref name="name"/> is a TLS 1.2 suite name .NET knows (TLS 1.3 names are not accepted:
    /// <c>Tls:CipherSuites</c> is for TLS 1.2 only).</summary>
    public static bool IsTls12Name(string name) =>
        Enum.TryParse<TlsCipherSuite>(name.Trim(), ignoreCase: false, out var suite) && !int.TryParse(name, out _) && !Tls13.Contains(suite)
        && suite.ToString().StartsWith("TLS_", StringComparison.Ordinal) && suite.ToString().Contains("_WITH_", StringComparison.Ordinal);

    /// <summary>Suites whose certificate must be ECDSA (TLS 1.2 ECDHE_ECDSA); a client offering none of them needs RSA.</summary>
    public static IReadOnlySet<ushort> EcdsaSuites(IEnumerable<TlsCipherSuite> tls12) =>
        tls12.Where(s => s.ToString().StartsWith("TLS_ECDHE_ECDSA_", StringComparison.Ordinal)).Select(s => (ushort)s).ToHashSet();
}
