// PBKDF2-SHA256 password hashes in the users file's "$pbkdf2-sha256$ITERATIONS$SALT$HASH" form.
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace Mta.Engine.Auth;

/// <summary>A salted, slow password hash (PBKDF2 with HMAC-SHA256, from the BCL). Each hash records its own iteration
/// count, so raising <c>Auth:HashIterations</c> applies to new passwords without breaking old ones.</summary>
public sealed class PasswordHash
{
    /// <summary>The scheme tag that starts every hash.</summary>
    public const string Scheme = "$pbkdf2-sha256$";

    /// <summary>Random salt length, octets.</summary>
    public const int SaltBytes = 16;

    /// <summary>Derived key length, octets (the SHA-256 output size: more would only cost the defender).</summary>
    public const int HashBytes = 32;

    // Parsing caps the count so a tampered line cannot make one AUTH attempt run for hours.
    internal const int MaxIterations = 100_000_000;

    private readonly byte[] _salt;
    private readonly byte[] _hash;

    private PasswordHash(int iterations, byte[] salt, byte[] hash)
    {
        Iterations = iterations;
        _salt = salt;
        _hash = hash;
    }

    /// <summary>The PBKDF2 iteration count this hash was made with.</summary>
    public int Iterations { get; }

    /// <summary>Hashes a new password with a fresh random salt.</summary>
    public static PasswordHash Create(string password, int iterations)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, MaxIterations);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        return new PasswordHash(iterations, salt, Derive(password, salt, iterations));
    }

    /// <summary>A hash of no known password (random salt and key), as cheap to make as to parse: a stand-in to verify
    /// against when the user is unknown, so that the attempt costs the same time.</summary>
    internal static PasswordHash Unmatchable(int iterations) =>
        new(iterations, RandomNumberGenerator.GetBytes(SaltBytes), RandomNumberGenerator.GetBytes(HashBytes));

    /// <summary>Reads the stored form; false for anything malformed (wrong scheme, count, salt or hash length).</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out PasswordHash? hash)
    {
        hash = null;
        if (!text.StartsWith(Scheme, StringComparison.Ordinal)) return false;
        var parts = text[Scheme.Length..].Split('$');
        if (parts.Length != 3) return false;
        if (parts[0].Length is 0 or > 9 || !parts[0].All(char.IsAsciiDigit)) return false;
        var iterations = int.Parse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture);
        if (iterations is < 1 or > MaxIterations) return false;
        var salt = new byte[SaltBytes];
        var derived = new byte[HashBytes];
        if (!Convert.TryFromBase64String(parts[1], salt, out var saltLength) || saltLength != SaltBytes) return false;
        if (!Convert.TryFromBase64String(parts[2], derived, out var hashLength) || hashLength != HashBytes) return false;
        hash = new PasswordHash(iterations, salt, derived);
        return true;
    }

    /// <summary>True when <paramref name="password"/> matches, compared in constant time. CPU-bound for the hash's
    /// iteration count (about 0.3 s at 600000): call it off the I/O threads.</summary>
    public bool Verify(string password) =>
        CryptographicOperations.FixedTimeEquals(Derive(password, _salt, Iterations), _hash);

    /// <summary>The stored form, <c>$pbkdf2-sha256$ITERATIONS$SALT$HASH</c> with base64 salt and hash.</summary>
    public override string ToString() =>
        $"{Scheme}{Iterations.ToString(CultureInfo.InvariantCulture)}${Convert.ToBase64String(_salt)}${Convert.ToBase64String(_hash)}";

    // The BCL encodes the characters as UTF-8, as SASL transmits them.
    private static byte[] Derive(string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, HashBytes);
}
