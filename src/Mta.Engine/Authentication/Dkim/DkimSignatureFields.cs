// The tags of one DKIM-Signature field (RFC 6376 section 3.5), checked for what a verifier needs before any DNS query.
using System.Globalization;
using MimeKit.Cryptography;
using Mta.Abstractions;

namespace Mta.Engine.Authentication.Dkim;

/// <summary>
/// A parsed DKIM-Signature field. <see cref="Parse"/> never fails: a malformed field comes back with
/// <see cref="Problem"/> set and whatever tags could be read (for the result's <c>header.d</c>, <c>header.s</c>,
/// <c>header.b</c>), so the caller reports it instead of throwing.
/// </summary>
public sealed class DkimSignatureFields
{
    private DkimSignatureFields() { }

    /// <summary><c>d=</c>, or empty.</summary>
    public string Domain { get; private set; } = "";

    /// <summary><c>s=</c>, or empty.</summary>
    public string Selector { get; private set; } = "";

    /// <summary><c>a=</c> lower-cased, or empty.</summary>
    public string Algorithm { get; private set; } = "";

    /// <summary>The algorithm, when it is one MimeKit implements.</summary>
    public DkimSignatureAlgorithm? SignatureAlgorithm { get; private set; }

    /// <summary><c>i=</c>, or null.</summary>
    public string? Identity { get; private set; }

    /// <summary><c>b=</c> without whitespace, or empty.</summary>
    public string Signature { get; private set; } = "";

    /// <summary><c>bh=</c> without whitespace, or empty.</summary>
    public string BodyHash { get; private set; } = "";

    /// <summary><c>h=</c>: the signed header field names in order.</summary>
    public IReadOnlyList<string> SignedHeaders { get; private set; } = [];

    /// <summary>The header canonicalization of <c>c=</c> (simple by default).</summary>
    public DkimCanonicalizationAlgorithm HeaderCanonicalization { get; private set; }

    /// <summary>The body canonicalization of <c>c=</c> (simple by default).</summary>
    public DkimCanonicalizationAlgorithm BodyCanonicalization { get; private set; }

    /// <summary><c>l=</c>: how many octets of the canonical body are signed, or null for all of it.</summary>
    public long? BodyLength { get; private set; }

    /// <summary><c>t=</c> in seconds since the epoch, or null.</summary>
    public long? Timestamp { get; private set; }

    /// <summary><c>x=</c> in seconds since the epoch, or null.</summary>
    public long? Expiration { get; private set; }

    /// <summary>The first 8 characters of <c>b=</c> (RFC 6008), or null when there is no <c>b=</c>.</summary>
    public string? SignaturePrefix => Signature.Length == 0 ? null : Signature[..Math.Min(8, Signature.Length)];

    /// <summary>Why the field cannot be verified, or <see cref="DkimProblem.None"/>.</summary>
    public DkimProblem Problem { get; private set; }

    /// <summary>What is wrong with the field, or null.</summary>
    public string? Error { get; private set; }

    /// <summary>The result a field with <see cref="Problem"/> gets: neutral for an algorithm this verifier does not know
    /// (RFC 8601 2.7.1: "not able to be processed"), permerror for everything else.</summary>
    public DkimResult ProblemResult => Problem == DkimProblem.UnsupportedAlgorithm ? DkimResult.Neutral : DkimResult.PermError;

    /// <summary>Parses the value of a DKIM-Signature field. Never throws.</summary>
    public static DkimSignatureFields Parse(string value)
    {
        var fields = new DkimSignatureFields();
        if (!DkimTagList.TryParse(value, out var list, out var error))
        {
            var lenient = DkimTagList.ParseLeniently(value);
            fields.SetReportingTags(lenient);
            return fields.Fail(DkimProblem.MalformedSignature, "malformed tag list: " + error);
        }
        var tags = list!.ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
        fields.SetReportingTags(tags);
        fields.Check(tags);
        return fields;
    }

    private void SetReportingTags(Dictionary<string, string> tags)
    {
        Domain = tags.GetValueOrDefault("d", "").TrimEnd('.');
        Selector = tags.GetValueOrDefault("s", "");
        Algorithm = tags.GetValueOrDefault("a", "").ToLowerInvariant();
        Identity = tags.GetValueOrDefault("i");
        Signature = DkimTagList.RemoveWhitespace(tags.GetValueOrDefault("b", ""));
        BodyHash = DkimTagList.RemoveWhitespace(tags.GetValueOrDefault("bh", ""));
    }

    private DkimSignatureFields Fail(DkimProblem problem, string error)
    {
        Problem = problem;
        Error = error;
        return this;
    }

    private void Check(Dictionary<string, string> tags)
    {
        if (!tags.TryGetValue("v", out var version)) { Fail(DkimProblem.MalformedSignature, "no v= tag"); return; }
        if (version != "1") { Fail(DkimProblem.MalformedSignature, $"unknown version v={version}"); return; }
        foreach (var required in (ReadOnlySpan<string>)["a", "b", "bh", "d", "h", "s"])
        {
            if (!tags.TryGetValue(required, out var v) || v.Length == 0)
            {
                Fail(DkimProblem.MalformedSignature, $"no {required}= tag");
                return;
            }
        }

        SignatureAlgorithm = Algorithm switch
        {
            "rsa-sha256" => DkimSignatureAlgorithm.RsaSha256,
            "rsa-sha1" => DkimSignatureAlgorithm.RsaSha1,
            "ed25519-sha256" => DkimSignatureAlgorithm.Ed25519Sha256,
            _ => null,
        };
        if (SignatureAlgorithm is null) { Fail(DkimProblem.UnsupportedAlgorithm, $"unknown algorithm a={Shorten(Algorithm)}"); return; }

        if (!DkimTagList.IsBase64(Signature)) { Fail(DkimProblem.MalformedSignature, "b= is not base64"); return; }
        if (!DkimTagList.IsBase64(BodyHash)) { Fail(DkimProblem.MalformedSignature, "bh= is not base64"); return; }
        if (!IsDomainName(Domain)) { Fail(DkimProblem.MalformedSignature, "d= is not a domain name"); return; }
        if (!IsDomainName(Selector)) { Fail(DkimProblem.MalformedSignature, "s= is not a valid selector"); return; }

        if (!TryParseCanonicalization(tags.GetValueOrDefault("c"), out var header, out var body))
        {
            Fail(DkimProblem.MalformedSignature, "unknown canonicalization c=" + Shorten(tags["c"]));
            return;
        }
        (HeaderCanonicalization, BodyCanonicalization) = (header, body);

        if (tags.TryGetValue("q", out var methods)
            && !DkimTagList.RemoveWhitespace(methods).Split(':').Any(m => m.Equals("dns/txt", StringComparison.OrdinalIgnoreCase)))
        {
            Fail(DkimProblem.MalformedSignature, "no supported query method in q=");
            return;
        }

        var signed = DkimTagList.RemoveWhitespace(tags["h"]).Split(':');
        if (signed.Any(h => h.Length == 0)) { Fail(DkimProblem.MalformedSignature, "empty field name in h="); return; }
        SignedHeaders = signed;
        if (!signed.Contains("from", StringComparer.OrdinalIgnoreCase)) { Fail(DkimProblem.IdentityMismatch, "the From field is not signed"); return; }

        if (!TryParseNumber(tags, "l", out var length)) { Fail(DkimProblem.MalformedSignature, "l= is not a number"); return; }
        if (!TryParseNumber(tags, "t", out var timestamp)) { Fail(DkimProblem.MalformedSignature, "t= is not a number"); return; }
        if (!TryParseNumber(tags, "x", out var expiration)) { Fail(DkimProblem.MalformedSignature, "x= is not a number"); return; }
        (BodyLength, Timestamp, Expiration) = (length, timestamp, expiration);
        // RFC 6376 3.5: x= MUST be greater than t=.
        if (timestamp is not null && expiration is not null && expiration <= timestamp)
        {
            Fail(DkimProblem.MalformedSignature, "x= is not later than t=");
            return;
        }

        if (Identity is not null)
        {
            var at = Identity.LastIndexOf('@');
            if (at < 0) { Fail(DkimProblem.MalformedSignature, "i= has no @"); return; }
            if (!IsSameOrSubdomain(Identity[(at + 1)..], Domain))
            {
                Fail(DkimProblem.IdentityMismatch, "the i= domain is not d= or a subdomain of it");
                return;
            }
        }
    }

    /// <summary>True when <paramref name="name"/> is <paramref name="domain"/> or a subdomain of it, without case.</summary>
    internal static bool IsSameOrSubdomain(string name, string domain) =>
        Abstractions.Domain.TryParse(name, out var child) && Abstractions.Domain.TryParse(domain, out var parent) && child.IsSameOrSubdomainOf(parent);

    private static bool TryParseCanonicalization(string? value, out DkimCanonicalizationAlgorithm header, out DkimCanonicalizationAlgorithm body)
    {
        header = body = DkimCanonicalizationAlgorithm.Simple;
        if (value is null) return true;
        var parts = value.ToLowerInvariant().Split('/');
        if (parts.Length > 2 || !TryOne(parts[0], out header)) return false;
        return parts.Length == 1 || TryOne(parts[1], out body);

        static bool TryOne(string s, out DkimCanonicalizationAlgorithm algorithm)
        {
            algorithm = s == "relaxed" ? DkimCanonicalizationAlgorithm.Relaxed : DkimCanonicalizationAlgorithm.Simple;
            return s is "relaxed" or "simple";
        }
    }

    private static bool TryParseNumber(Dictionary<string, string> tags, string name, out long? number)
    {
        number = null;
        if (!tags.TryGetValue(name, out var text)) return true;
        // 1*76DIGIT for l=, 1*12DIGIT for t= and x=; a long holds every value that can matter here.
        if (text.Length is 0 or > 18 || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)) return false;
        number = value;
        return true;
    }

    // d= and s= are domain names (s= may have several labels); labels of letters, digits, '-' and '_', or UTF-8 (RFC 8616).
    private static bool IsDomainName(string name)
    {
        if (name.Length is 0 or > 253) return false;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63) return false;
            foreach (var c in label)
                if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_' && c < '\u0080') return false;
        }
        return true;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
