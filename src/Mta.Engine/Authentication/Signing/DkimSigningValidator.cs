// Configuration rules for Authentication:Signing, in the form MtaOptionsValidator calls (check(ok, key, why)).
using System.Text.RegularExpressions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Checks the signing settings that can be checked without reading key files (<see cref="DkimKeyStore"/> reads
/// those at start-up).</summary>
public static partial class DkimSigningValidator
{
    /// <summary>Reports each broken rule as <c>check(false, key, why)</c>.</summary>
    public static void Validate(MtaOptions options, Action<bool, string, string> check)
    {
        var signing = options.Authentication.Signing;
        const string prefix = "Authentication:Signing";
        check(DkimCanonicalization.TryParse(signing.Canonicalization, out _, out _), $"{prefix}:Canonicalization",
            "must be relaxed/relaxed, relaxed/simple, simple/relaxed or simple/simple");
        check(!string.IsNullOrWhiteSpace(signing.KeyDirectory), $"{prefix}:KeyDirectory", "must not be empty");
        check(signing.Expiration is null || signing.Expiration >= TimeSpan.FromSeconds(1), $"{prefix}:Expiration", "must be at least one second when set");
        foreach (var (domain, domainOptions) in signing.Domains)
        {
            var domainKey = $"{prefix}:Domains:{domain}";
            check(IsValidName(domain), domainKey, "is not a domain name");
            check(domainOptions.Selectors.Count > 0, $"{domainKey}:Selectors", "needs at least one selector");
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < domainOptions.Selectors.Count; i++)
            {
                var selector = domainOptions.Selectors[i];
                var key = $"{domainKey}:Selectors:{i}";
                // RFC 6376 3.1: a selector is one or more sub-domain labels.
                check(DomainName().IsMatch(selector.Selector), $"{key}:Selector", $"'{selector.Selector}' is not a selector (letters, digits, '-' and '.')");
                check(seen.Add(selector.Selector), $"{key}:Selector", $"'{selector.Selector}' is listed twice");
                check(Enum.IsDefined(selector.Algorithm), $"{key}:Algorithm", "must be Rsa or Ed25519");
            }
            foreach (var algorithm in Enum.GetValues<DkimKeyAlgorithm>())
                check(domainOptions.Selectors.Count(s => s.Sign && s.Algorithm == algorithm) <= 1, $"{domainKey}:Selectors",
                    $"more than one {algorithm} selector has Sign: true; during a rotation only the new one signs");
        }
    }

    /// <summary>Whether <paramref name="name"/> is a domain name or selector: dot-separated labels of letters, digits and
    /// inner hyphens (RFC 6376 3.1, RFC 5321 4.1.2 sub-domain), a trailing dot allowed.</summary>
    public static bool IsValidName(string name) => DomainName().IsMatch(name.EndsWith('.') ? name[..^1] : name);

    [GeneratedRegex(@"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex DomainName();
}
