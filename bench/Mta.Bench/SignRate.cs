// mta-bench sign-rate: DKIM signatures per second on one thread, with the signer the server itself uses.
using System.Diagnostics;
using System.Globalization;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Bench;

/// <summary>
/// Signs one message over and over with <see cref="DkimMessageSigner"/> (parse, canonicalize, hash, sign: what the
/// server does per message and key) on the calling thread, so the rate is that of one core.
/// </summary>
internal static class SignRate
{
    public const string Usage = """
        usage: mta-bench sign-rate --domain D --selector S --algorithm rsa|ed25519 --key FILE --data-file FILE [--seconds N]

          --domain D         signing domain (d=)
          --selector S       selector (s=)
          --algorithm A      rsa (rsa-sha256) or ed25519 (ed25519-sha256)
          --key FILE         PEM private key, e.g. from `mta dkim keygen` (mode 0600)
          --data-file FILE   the message to sign (bare LF becomes CRLF)
          --seconds N        how long to sign after a 1 s warm-up (default 5, at most 600)

        Prints: sign-rate: ALG: N signatures in T s = R sig/s on one thread (process CPU C s; ...)
        and, for an RSA key, a reference line: the raw RSA operation through .NET's RSA (OpenSSL) instead.
        """;

    public static int Run(string[] args)
    {
        string? domain = null, selector = null, algorithm = null, key = null, data = null;
        int seconds = 5;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? v = i + 1 < args.Length ? args[i + 1] : null;
            switch (a)
            {
                case "--domain": domain = v; i++; break;
                case "--selector": selector = v; i++; break;
                case "--algorithm": algorithm = v; i++; break;
                case "--key": key = v; i++; break;
                case "--data-file": data = v; i++; break;
                case "--seconds":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out seconds) || seconds is < 1 or > 600)
                        return Bad($"--seconds must be an integer in 1..600, got '{v}'");
                    i++;
                    break;
                case "-h" or "--help": Console.Error.Write(Usage); return 2;
                default: return Bad($"unexpected argument '{a}'");
            }
        }
        if (domain is null || selector is null || algorithm is null || key is null || data is null)
            return Bad("--domain, --selector, --algorithm, --key and --data-file are required");
        DkimKeyAlgorithm alg;
        switch (algorithm.ToLowerInvariant())
        {
            case "rsa": alg = DkimKeyAlgorithm.Rsa; break;
            case "ed25519": alg = DkimKeyAlgorithm.Ed25519; break;
            default: return Bad($"--algorithm must be rsa or ed25519, got '{algorithm}'");
        }

        byte[] message;
        DkimMessageSigner signer;
        string label;
        Org.BouncyCastle.Crypto.AsymmetricKeyParameter privateKey;
        try
        {
            message = ToCrlf(File.ReadAllBytes(data));
            string keyFile = Path.GetFullPath(key);
            var options = new MtaOptions { DataDirectory = Path.GetDirectoryName(keyFile)! };
            options.Authentication.Signing.Domains[domain] = new DkimDomainOptions
            {
                Selectors = [new DkimSelectorOptions { Selector = selector, Algorithm = alg, KeyFile = keyFile }],
            };
            var store = new DkimKeyStore(options, new MtaPaths(options));
            var loaded = store.SigningKeysFor(domain);
            if (loaded.Count != 1) return Bad($"the key store has {loaded.Count} signing keys for {domain}, not 1");
            privateKey = loaded[0].PrivateKey;
            label = privateKey is RsaKeyParameters rsa ? $"rsa-{rsa.Modulus.BitLength}" : "ed25519";
            signer = new DkimMessageSigner(store, options.Authentication.Signing, TimeProvider.System);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StartupException or ArgumentException)
        {
            return Bad(e.Message);
        }
        if (signer.CreateSignatureFields(domain, message).Count != 1)
            return Bad("the signer returned no signature (see its log message above, if any)");

        // Warm-up: JIT and the key's precomputations, not counted.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1) signer.CreateSignatureFields(domain, message);

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        long n = 0;
        var sw = Stopwatch.StartNew();
        // Check the clock every few signatures only; an RSA signature takes about a millisecond.
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (int k = 0; k < 8; k++) n += signer.CreateSignatureFields(domain, message).Count;
        }
        double secs = sw.Elapsed.TotalSeconds;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sign-rate: {label}: {n} signatures in {secs:F3} s = {n / secs:F1} sig/s on one thread (process CPU {cpu:F2} s; {message.Length}-byte message, {(cpu > 0 ? n / cpu : 0):F1} sig per CPU second)"));
        if (privateKey is RsaPrivateCrtKeyParameters crt) ReferenceRsa(crt, seconds);
        return 0;
    }

    /// <summary>
    /// For comparison only: the raw RSA operation (PKCS#1 v1.5 over a SHA-256 digest) with the same key through .NET's
    /// own RSA (OpenSSL on Linux) instead of BouncyCastle, which MimeKit's signer uses.
    /// </summary>
    private static void ReferenceRsa(RsaPrivateCrtKeyParameters key, int seconds)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(DotNetUtilities.ToRSAParameters(key));
        byte[] digest = System.Security.Cryptography.SHA256.HashData("mta-bench"u8);
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.5) Sign();
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (int k = 0; k < 32; k++) Sign();
            n += 32;
        }
        double secs = sw.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reference: rsa-{key.Modulus.BitLength} raw sign of a SHA-256 digest with .NET's RSA (OpenSSL), not BouncyCastle: {n / secs:F1} sig/s on one thread"));

        // The same raw operation with BouncyCastle's RsaDigestSigner, one signer re-initialised per signature.
        byte[] data = "mta-bench"u8.ToArray();
        long m = 0;
        var bc = new Org.BouncyCastle.Crypto.Signers.RsaDigestSigner(new Org.BouncyCastle.Crypto.Digests.Sha256Digest());
        var sw2 = Stopwatch.StartNew();
        while (sw2.Elapsed.TotalSeconds < seconds)
        {
            bc.Init(true, key);
            bc.BlockUpdate(data, 0, data.Length);
            bc.GenerateSignature();
            m++;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reference: rsa-{key.Modulus.BitLength} raw sign with BouncyCastle's RsaDigestSigner (what MimeKit's signer runs): {m / sw2.Elapsed.TotalSeconds:F1} sig/s on one thread"));

        void Sign() => rsa.SignHash(digest, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
    }

    private static int Bad(string why)
    {
        Console.Error.WriteLine($"mta-bench sign-rate: {why}");
        return 2;
    }

    private static byte[] ToCrlf(byte[] raw)
    {
        var output = new MemoryStream(raw.Length + raw.Length / 16);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == (byte)'\n' && (i == 0 || raw[i - 1] != (byte)'\r')) output.WriteByte((byte)'\r');
            output.WriteByte(raw[i]);
        }
        return output.ToArray();
    }
}
