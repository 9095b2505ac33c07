// Creates DKIM key pairs and writes the private half to a 0600 file that never exists with a wider mode.
using System.Security.Cryptography;
using System.Text;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Generates DKIM keys (<c>mta dkim keygen</c>).</summary>
public static class DkimKeyGenerator
{
    /// <summary>RSA modulus size when none is given: RFC 8301 3.2 says signers SHOULD use at least 2048 bits.</summary>
    public const int DefaultRsaBits = 2048;

    /// <summary>Smallest RSA key accepted: RFC 8301 3.2 says signers MUST use at least 1024 bits.</summary>
    public const int MinimumRsaBits = 1024;

    /// <summary>Largest RSA key generated; 4096-bit records already need careful TXT splitting and larger ones help no one.</summary>
    public const int MaximumRsaBits = 4096;

    private const UnixFileMode KeyFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode KeyDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>A new private key.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rsaBits"/> is outside 1024..4096 or not a multiple of 8.</exception>
    public static AsymmetricKeyParameter Generate(DkimKeyAlgorithm algorithm, int rsaBits = DefaultRsaBits)
    {
        if (algorithm == DkimKeyAlgorithm.Ed25519)
        {
            var generator = new Ed25519KeyPairGenerator();
            generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
            return generator.GenerateKeyPair().Private;
        }
        if (rsaBits < MinimumRsaBits || rsaBits > MaximumRsaBits || rsaBits % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(rsaBits), rsaBits, $"RSA keys must have {MinimumRsaBits} to {MaximumRsaBits} bits, a multiple of 8");
        // The platform (OpenSSL) finds RSA primes several times faster than BouncyCastle's managed generator.
        using var rsa = RSA.Create(rsaBits);
        return PrivateKeyFactory.CreateKey(rsa.ExportPkcs8PrivateKey());
    }

    /// <summary>Generates a key and writes it as PKCS#8 PEM to <paramref name="path"/> (mode 0600 from its creation). The
    /// file appears whole or not at all: it is written to a temporary file beside it and renamed.</summary>
    /// <param name="privateRoot">Missing directories at or below this one are created 0700 (default: the file's own
    /// directory); missing ones above it get the default mode.</param>
    /// <returns>The key and its TXT record text.</returns>
    /// <exception cref="IOException"><paramref name="path"/> exists and <paramref name="overwrite"/> is false, or the write failed.</exception>
    public static (AsymmetricKeyParameter PrivateKey, string PublicKeyRecord) GenerateToFile(string path, DkimKeyAlgorithm algorithm,
        int rsaBits = DefaultRsaBits, bool overwrite = false, string? privateRoot = null)
    {
        var key = Generate(algorithm, rsaBits);
        WritePrivateKey(path, key, overwrite, privateRoot);
        return (key, DkimDnsRecord.PublicKeyRecord(key));
    }

    /// <summary>Writes <paramref name="privateKey"/> as PKCS#8 PEM, mode 0600 from creation, atomically (temporary file + rename).</summary>
    public static void WritePrivateKey(string path, AsymmetricKeyParameter privateKey, bool overwrite = false, string? privateRoot = null)
    {
        path = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(path)!;
        CreateDirectories(directory, Path.TrimEndingDirectorySeparator(Path.GetFullPath(privateRoot ?? directory)));
        if (!overwrite && File.Exists(path)) throw new IOException($"{path} already exists");

        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():n}.tmp");
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = KeyFileMode;
        try
        {
            using (var stream = new FileStream(temporary, fileOptions))
            {
                stream.Write(Encoding.ASCII.GetBytes(DkimPrivateKeyPem.Write(privateKey)));
                stream.Flush(flushToDisk: true);
            }
            // The umask can only narrow UnixCreateMode, never widen it, so the file is at most 0600 here.
            File.Move(temporary, path, overwrite);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    // Directory.CreateDirectory(path, mode) gives the mode to the last directory only; each one is created here, top down.
    private static void CreateDirectories(string directory, string privateRoot)
    {
        var missing = new Stack<string>();
        for (var d = directory; !string.IsNullOrEmpty(d) && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Push(d);
        foreach (var d in missing)
        {
            var isPrivate = d == privateRoot || d.StartsWith(privateRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            if (isPrivate && !OperatingSystem.IsWindows()) Directory.CreateDirectory(d, KeyDirectoryMode);
            else Directory.CreateDirectory(d);
        }
    }
}
