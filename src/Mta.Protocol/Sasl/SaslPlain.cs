// The PLAIN mechanism's single message (RFC 4616): [authzid] NUL authcid NUL passwd, UTF-8, base64 on the wire.
namespace Mta.Protocol.Sasl;

/// <summary>Decodes the client's PLAIN response, given as the AUTH initial response or after an empty <c>334 </c>.</summary>
public static class SaslPlain
{
    /// <summary>Splits a base64 PLAIN message into its three fields.</summary>
    /// <param name="base64">The response without CRLF.</param>
    /// <param name="authzid">The identity to act as, or null when the client left it empty (act as <paramref name="user"/>).
    /// Mta does not support acting as someone else: a value different from <paramref name="user"/> should fail as bad credentials.</param>
    /// <param name="user">The authentication identity; never empty on success.</param>
    /// <param name="password">The password; never empty on success. Never log it.</param>
    /// <param name="error">Why the message is malformed (reply 501 5.5.2 with it); it never contains the data.</param>
    public static bool TryDecode(ReadOnlySpan<char> base64, out string? authzid, out string? user, out string? password, out string? error)
    {
        authzid = user = password = null;
        if (!Sasl.TryDecodeBase64(base64, out var bytes, out error)) return false;
        try
        {
            ReadOnlySpan<byte> message = bytes;
            var first = message.IndexOf((byte)0);
            if (first < 0) { error = "Malformed PLAIN response"; return false; }
            var rest = message[(first + 1)..];
            var second = rest.IndexOf((byte)0);
            // Exactly two separators: a third NUL would sit inside the password.
            if (second < 0) { error = "Malformed PLAIN response"; return false; }
            var authzidOctets = message[..first];
            var authcidOctets = rest[..second];
            var passwdOctets = rest[(second + 1)..];
            if (authcidOctets.IsEmpty) { error = "Empty user name"; return false; }
            if (passwdOctets.IsEmpty) { error = "Empty password"; return false; }
            if (!Sasl.TryDecodeField(authzidOctets, "Authorization identity", out var z, out error)) return false;
            if (!Sasl.TryDecodeField(authcidOctets, "User name", out user, out error)) return false;
            if (!Sasl.TryDecodeField(passwdOctets, "Password", out password, out error)) { user = null; return false; }
            authzid = string.IsNullOrEmpty(z) ? null : z;
            return true;
        }
        finally
        {
            // The decoded password should not linger in a buffer nobody owns.
            Array.Clear(bytes ?? []);
        }
    }
}
