// Parses the Authentication:Signing:Canonicalization setting ("relaxed/relaxed" and the three others).
using MimeKit.Cryptography;

namespace Mta.Engine.Authentication.Signing;

/// <summary>The <c>c=</c> setting as MimeKit's two algorithms.</summary>
public static class DkimCanonicalization
{
    /// <summary>Parses <c>header/body</c> where each half is <c>relaxed</c> or <c>simple</c> (case-insensitive).</summary>
    public static bool TryParse(string? text, out DkimCanonicalizationAlgorithm header, out DkimCanonicalizationAlgorithm body)
    {
        header = body = DkimCanonicalizationAlgorithm.Simple;
        var parts = (text ?? "").Split('/');
        return parts.Length == 2 && TryParseOne(parts[0], out header) && TryParseOne(parts[1], out body);
    }

    private static bool TryParseOne(string text, out DkimCanonicalizationAlgorithm algorithm)
    {
        algorithm = DkimCanonicalizationAlgorithm.Simple;
        if (text.Trim().Equals("relaxed", StringComparison.OrdinalIgnoreCase)) { algorithm = DkimCanonicalizationAlgorithm.Relaxed; return true; }
        return text.Trim().Equals("simple", StringComparison.OrdinalIgnoreCase);
    }
}
