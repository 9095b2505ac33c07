// The LOGIN mechanism (draft-murchison-sasl-login): two base64 challenges, one base64 line each for user and password.
namespace Mta.Protocol.Sasl;

/// <summary>The LOGIN exchange: the server sends <see cref="UsernameChallenge"/> (unless the AUTH command carried the
/// user name as initial response), then <see cref="PasswordChallenge"/>; each answer is one base64 line.</summary>
public static class SaslLogin
{
    /// <summary>"Username:" in base64, the text of the first <c>334</c> challenge.</summary>
    public const string UsernameChallenge = "VXNlcm5hbWU6";

    /// <summary>"Password:" in base64, the text of the second <c>334</c> challenge.</summary>
    public const string PasswordChallenge = "UGFzc3dvcmQ6";

    /// <summary>The <c>334</c> reply asking for the user name.</summary>
    public static readonly SmtpReply UsernameReply = new(334, (string?)null, UsernameChallenge);

    /// <summary>The <c>334</c> reply asking for the password.</summary>
    public static readonly SmtpReply PasswordReply = new(334, (string?)null, PasswordChallenge);

    /// <summary>Decodes the client's user name line.</summary>
    /// <param name="base64">The line without CRLF (check <see cref="Sasl.IsCancel"/> first).</param>
    /// <param name="user">The user name, never empty on success.</param>
    /// <param name="error">Why the line is malformed (reply 501 5.5.2); it never contains the data.</param>
    public static bool TryDecodeUser(ReadOnlySpan<char> base64, out string? user, out string? error) =>
        TryDecodeLine(base64, "User name", out user, out error);

    /// <summary>Decodes the client's password line. Never log the result.</summary>
    public static bool TryDecodePassword(ReadOnlySpan<char> base64, out string? password, out string? error) =>
        TryDecodeLine(base64, "Password", out password, out error);

    private static bool TryDecodeLine(ReadOnlySpan<char> base64, string what, out string? value, out string? error)
    {
        value = null;
        if (!Sasl.TryDecodeBase64(base64, out var bytes, out error)) return false;
        try
        {
            if (bytes!.Length == 0) { error = $"Empty {what.ToLowerInvariant()}"; return false; }
            return Sasl.TryDecodeField(bytes, what, out value, out error);
        }
        finally
        {
            Array.Clear(bytes ?? []);
        }
    }
}
