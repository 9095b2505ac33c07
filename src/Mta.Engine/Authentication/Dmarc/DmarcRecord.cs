// A DMARC policy record (RFC 7489 6.3, 6.4) and its parser: text in, record or error out, never an exception.
using System.Globalization;
using Mta.Abstractions;

namespace Mta.Engine.Authentication.Dmarc;

/// <summary>DMARC identifier alignment mode (RFC 7489 3.1): <c>r</c> or <c>s</c>.</summary>
public enum DmarcAlignment
{
    /// <summary>The organizational domains must match (the default).</summary>
    Relaxed,
    /// <summary>The domains must match exactly.</summary>
    Strict,
}

/// <summary>A reporting URI of <c>rua=</c> or <c>ruf=</c>, with its optional size limit (<c>!10m</c>).</summary>
/// <param name="Uri">The URI as written, without the size suffix.</param>
/// <param name="MaxSize">The largest report the owner accepts, in octets; null when unlimited.</param>
public sealed record DmarcReportUri(string Uri, ulong? MaxSize);

/// <summary>
/// One parsed DMARC record. Tags this server does not act on (<c>fo</c>, <c>rf</c>, <c>ri</c>, <c>rua</c>,
/// <c>ruf</c>) are parsed and kept for whoever reports. Defaults are RFC 7489 6.3's.
/// </summary>
/// <param name="Policy"><c>p=</c>; <see cref="DmarcPolicy.None"/> when <see cref="PolicyAssumed"/>.</param>
/// <param name="SubdomainPolicy"><c>sp=</c>, or null when absent (then <c>p=</c> applies to subdomains too).</param>
/// <param name="DkimAlignment"><c>adkim=</c>.</param>
/// <param name="SpfAlignment"><c>aspf=</c>.</param>
/// <param name="Percent"><c>pct=</c>, 0 to 100: the share of failing mail the policy is applied to.</param>
/// <param name="FailureOptions"><c>fo=</c> values (<c>0</c>, <c>1</c>, <c>d</c>, <c>s</c>), lower case.</param>
/// <param name="ReportFormats"><c>rf=</c> values, lower case.</param>
/// <param name="ReportInterval"><c>ri=</c> in seconds.</param>
/// <param name="AggregateReportUris"><c>rua=</c>: the syntactically valid URIs.</param>
/// <param name="FailureReportUris"><c>ruf=</c>: the syntactically valid URIs.</param>
/// <param name="PolicyAssumed">True when <c>p=</c> was missing or invalid (or <c>sp=</c> invalid) but a valid
/// <c>rua=</c> was given, so the record is read as <c>p=none</c> (RFC 7489 6.6.3 step 6).</param>
public sealed record DmarcRecord(
    DmarcPolicy Policy,
    DmarcPolicy? SubdomainPolicy,
    DmarcAlignment DkimAlignment,
    DmarcAlignment SpfAlignment,
    int Percent,
    IReadOnlyList<string> FailureOptions,
    IReadOnlyList<string> ReportFormats,
    uint ReportInterval,
    IReadOnlyList<DmarcReportUri> AggregateReportUris,
    IReadOnlyList<DmarcReportUri> FailureReportUris,
    bool PolicyAssumed = false)
{
    /// <summary>The version tag's value; it must match exactly, upper case (RFC 7489 6.4 spells it in %x octets).</summary>
    public const string Version = "DMARC1";

    private const string Whitespace = " \t\r\n";
    private static readonly char[] WhitespaceChars = [.. Whitespace];

    /// <summary>
    /// True when <paramref name="text"/> starts with the tag <c>v=DMARC1</c> (whitespace around the <c>=</c>
    /// allowed), followed by <c>;</c> or the end: the TXT records at <c>_dmarc.domain</c> that count as DMARC
    /// records at all (RFC 7489 6.6.3 step 3). Others are discarded before selection.
    /// </summary>
    public static bool IsDmarcRecord(string? text)
    {
        if (text is null) return false;
        var span = text.AsSpan().TrimStart(Whitespace);
        var semicolon = span.IndexOf(';');
        return IsVersionTag(semicolon < 0 ? span : span[..semicolon]);
    }

    /// <summary>
    /// Parses a DMARC record. False, with <paramref name="error"/> saying why, when the record does not start with
    /// <c>v=DMARC1</c>, a tag is not <c>name=value</c> or occurs twice, or a known tag's value breaks RFC 7489 6.4.
    /// A missing or invalid <c>p=</c> (or invalid <c>sp=</c>) is read as <c>p=none</c> when <c>rua=</c> holds a valid
    /// URI (RFC 7489 6.6.3), else it is an error. Unknown tags are ignored. Never throws.
    /// </summary>
    public static bool TryParse(string? text, out DmarcRecord? record, out string? error)
    {
        record = null;
        if (text is null) { error = "no record"; return false; }
        var tags = text.Split(';');
        if (!IsVersionTag(tags[0].AsSpan()))
        {
            error = "the record does not start with v=DMARC1";
            return false;
        }

        string? policyText = null, subdomainText = null;
        var dkimAlignment = DmarcAlignment.Relaxed;
        var spfAlignment = DmarcAlignment.Relaxed;
        var percent = 100;
        IReadOnlyList<string> failureOptions = ["0"];
        IReadOnlyList<string> reportFormats = ["afrf"];
        var interval = 86400u;
        IReadOnlyList<DmarcReportUri> rua = [], ruf = [];
        var seen = new HashSet<string>(StringComparer.Ordinal) { "v" };

        for (var i = 1; i < tags.Length; i++)
        {
            var tag = tags[i].AsSpan().Trim(Whitespace);
            if (tag.IsEmpty) continue;
            var eq = tag.IndexOf('=');
            if (eq < 0) { error = $"'{Shorten(tag)}' is not tag=value"; return false; }
            var name = tag[..eq].TrimEnd(Whitespace).ToString().ToLowerInvariant();
            var value = tag[(eq + 1)..].TrimStart(Whitespace).ToString();
            if (!IsTagName(name)) { error = $"'{Shorten(tag)}' has no valid tag name"; return false; }
            if (!seen.Add(name)) { error = $"tag {name}= occurs twice"; return false; }

            switch (name)
            {
                case "p": policyText = value; break;
                case "sp": subdomainText = value; break;
                case "adkim":
                    if (!TryAlignment(value, out dkimAlignment)) { error = $"adkim={Shorten(value)} is not r or s"; return false; }
                    break;
                case "aspf":
                    if (!TryAlignment(value, out spfAlignment)) { error = $"aspf={Shorten(value)} is not r or s"; return false; }
                    break;
                case "pct":
                    if (!TryPercent(value, out percent)) { error = $"pct={Shorten(value)} is not an integer from 0 to 100"; return false; }
                    break;
                case "fo":
                    if (!TryList(value, static v => v is "0" or "1" or "d" or "s", out failureOptions)) { error = $"fo={Shorten(value)} is not a list of 0, 1, d, s"; return false; }
                    break;
                case "rf":
                    // Unknown formats are allowed (6.3: ignore them); only the keyword syntax is checked.
                    if (!TryList(value, IsKeyword, out reportFormats)) { error = $"rf={Shorten(value)} is not a list of format names"; return false; }
                    break;
                case "ri":
                    if (!TryInterval(value, out interval)) { error = $"ri={Shorten(value)} is not a number of seconds"; return false; }
                    break;
                case "rua":
                    if (!TryUris(value, out rua)) { error = $"rua={Shorten(value)} holds no valid URI"; return false; }
                    break;
                case "ruf":
                    if (!TryUris(value, out ruf)) { error = $"ruf={Shorten(value)} holds no valid URI"; return false; }
                    break;
                default: break; // unknown tags are ignored (6.3: extensions)
            }
        }

        DmarcPolicy? subdomain = null;
        var policyOk = TryPolicy(policyText, out var policy);
        var subdomainOk = true;
        if (subdomainText is not null)
        {
            subdomainOk = TryPolicy(subdomainText, out var sp);
            if (subdomainOk) subdomain = sp;
        }
        var assumed = false;
        if (!policyOk || !subdomainOk)
        {
            if (rua.Count == 0)
            {
                error = !policyOk
                    ? policyText is null ? "no p= tag" : $"p={Shorten(policyText)} is not none, quarantine or reject"
                    : $"sp={Shorten(subdomainText!)} is not none, quarantine or reject";
                return false;
            }
            // RFC 7489 6.6.3 step 6: act as if the record were v=DMARC1; p=none, keeping what reports need.
            policy = DmarcPolicy.None;
            subdomain = null;
            assumed = true;
        }

        record = new DmarcRecord(policy, subdomain, dkimAlignment, spfAlignment, percent, failureOptions, reportFormats,
            interval, rua, ruf, assumed);
        error = null;
        return true;
    }

    private static bool IsVersionTag(ReadOnlySpan<char> tag)
    {
        tag = tag.Trim(Whitespace);
        if (tag.Length == 0 || (tag[0] != 'v' && tag[0] != 'V')) return false;
        var rest = tag[1..].TrimStart(Whitespace);
        if (rest.Length == 0 || rest[0] != '=') return false;
        return rest[1..].TrimStart(Whitespace).SequenceEqual(Version);
    }

    // RFC 6376 3.2 tag-name: ALPHA *ALNUMPUNC.
    private static bool IsTagName(string name)
    {
        if (name.Length == 0 || !char.IsAsciiLetter(name[0])) return false;
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c != '_') return false;
        return true;
    }

    private static bool TryPolicy(string? value, out DmarcPolicy policy)
    {
        policy = DmarcPolicy.None;
        switch (value?.ToLowerInvariant())
        {
            case "none": policy = DmarcPolicy.None; return true;
            case "quarantine": policy = DmarcPolicy.Quarantine; return true;
            case "reject": policy = DmarcPolicy.Reject; return true;
            default: return false;
        }
    }

    private static bool TryAlignment(string value, out DmarcAlignment alignment)
    {
        alignment = DmarcAlignment.Relaxed;
        switch (value)
        {
            case "r" or "R": return true;
            case "s" or "S": alignment = DmarcAlignment.Strict; return true;
            default: return false;
        }
    }

    // 1*3DIGIT, at most 100.
    private static bool TryPercent(string value, out int percent)
    {
        percent = 100;
        if (value.Length is 0 or > 3 || !value.All(char.IsAsciiDigit)) return false;
        var parsed = int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
        if (parsed > 100) return false;
        percent = parsed;
        return true;
    }

    // 1*32DIGIT; larger than 32 bits is taken as the largest interval.
    private static bool TryInterval(string value, out uint seconds)
    {
        seconds = 86400;
        if (value.Length is 0 or > 32 || !value.All(char.IsAsciiDigit)) return false;
        seconds = uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : uint.MaxValue;
        return true;
    }

    // A colon-separated list (whitespace around the colons allowed), every item lower-cased and accepted by valid.
    private static bool TryList(string value, Func<string, bool> valid, out IReadOnlyList<string> items)
    {
        var list = new List<string>();
        foreach (var part in value.Split(':'))
        {
            var item = part.Trim(WhitespaceChars).ToLowerInvariant();
            if (!valid(item)) { items = []; return false; }
            list.Add(item);
        }
        items = list;
        return true;
    }

    private static bool IsKeyword(string item) =>
        item.Length > 0 && char.IsAsciiLetterOrDigit(item[0]) && item.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    // dmarc-uri *(*WSP "," *WSP dmarc-uri), dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]. Invalid URIs
    // are dropped (6.6.3 speaks of "at least one syntactically valid reporting URI"); none valid is an error.
    private static bool TryUris(string value, out IReadOnlyList<DmarcReportUri> uris)
    {
        var list = new List<DmarcReportUri>();
        foreach (var part in value.Split(','))
        {
            var text = part.Trim(WhitespaceChars);
            ulong? size = null;
            var bang = text.LastIndexOf('!');
            if (bang >= 0)
            {
                if (!TrySize(text.AsSpan(bang + 1), out var limit)) continue;
                size = limit;
                text = text[..bang];
            }
            if (IsAbsoluteUri(text)) list.Add(new DmarcReportUri(text, size));
        }
        uris = list;
        return list.Count > 0;
    }

    private static bool TrySize(ReadOnlySpan<char> text, out ulong size)
    {
        size = 0;
        ulong unit = 1;
        if (text.Length > 0 && char.ToLowerInvariant(text[^1]) is 'k' or 'm' or 'g' or 't')
        {
            unit = char.ToLowerInvariant(text[^1]) switch { 'k' => 1UL << 10, 'm' => 1UL << 20, 'g' => 1UL << 30, _ => 1UL << 40 };
            text = text[..^1];
        }
        if (text.IsEmpty) return false;
        foreach (var c in text)
            if (!char.IsAsciiDigit(c)) return false;
        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number)) number = ulong.MaxValue;
        size = number > ulong.MaxValue / unit ? ulong.MaxValue : number * unit;
        return true;
    }

    // An RFC 3986 URI with its scheme spelled out (System.Uri alone would take "/x" as a file path), ASCII only.
    private static bool IsAbsoluteUri(string text)
    {
        if (text.Length == 0 || !char.IsAsciiLetter(text[0])) return false;
        var colon = text.IndexOf(':');
        if (colon < 1 || colon == text.Length - 1) return false;
        for (var i = 1; i < colon; i++)
            if (!char.IsAsciiLetterOrDigit(text[i]) && text[i] is not ('+' or '-' or '.')) return false;
        foreach (var c in text)
            if (c <= ' ' || c >= 0x7f || c is '"' or '<' or '>' or '\\' or '^' or '`' or '{' or '|' or '}') return false;
        return Uri.TryCreate(text, UriKind.Absolute, out _);
    }

    private static string Shorten(ReadOnlySpan<char> text) => text.Length <= 40 ? text.ToString() : string.Concat(text[..40], "...");
}
