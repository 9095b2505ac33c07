// Client side of SASL PLAIN and LOGIN: the base64 responses a sender gives (RFC 4616, draft-murchison-sasl-login).
using System.Text;

namespace Mta.Protocol.Sasl;

/// <summary>Encodes the client's responses for the mechanisms Mta speaks; the results hold secrets: never log them.</summary>
public static class SaslClient
{
    /// <summary>The PLAIN message <c>[authzid] NUL user NUL password</c>, UTF-8, in base64.</summary>
    /// <param name="user">The authentication identity.</param>
    /// <param name="password">The password.</param>
    /// <param name="authzid">The identity to act as, or null to act as <paramref name="user"/>.</param>
    public static string EncodePlain(string user, string password, string? authzid = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        ArgumentNullException.ThrowIfNull(password);
        if (user.Contains('\0') || password.Contains('\0') || (authzid?.Contains('\0') ?? false))
            throw new ArgumentException("SASL PLAIN fields cannot contain NUL.");
        var bytes = Encoding.UTF8.GetBytes((authzid ?? string.Empty) + "\0" + user + "\0" + password);
        try
        {
            return Convert.ToBase64String(bytes);
        }
        finally
        {
            Array.Clear(bytes);
        }
    }

    /// <summary>One LOGIN answer (the user name or the password), UTF-8, in base64.</summary>
    public static string EncodeLogin(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bytes = Encoding.UTF8.GetBytes(value);
        try
        {
            return bytes.Length == 0 ? "=" : Convert.ToBase64String(bytes);
        }
        finally
        {
            Array.Clear(bytes);
        }
    }
}
