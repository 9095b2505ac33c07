// The dmarc fuzz target's properties: DmarcRecord.TryParse and the organizational-domain lookup never throw and agree
// with themselves. Also compiled into tests/Mta.Engine.Tests, which replays fuzz/corpus/dmarc through it.
using System.Globalization;
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Authentication.Dmarc;

namespace Mta.Fuzz;

public static class DmarcChecks
{
    /// <summary>A violated invariant (its own type, so this file compiles without Checks.cs).</summary>
    public sealed class DmarcInvariantException(string message) : Exception(message);

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new DmarcInvariantException(what);
    }

    /// <summary>
    /// dmarc: the bytes decoded as UTF-8 (invalid sequences replaced) through <see cref="DmarcRecord.TryParse"/>.
    /// Never throws; a result is exactly one of a record or an error; only text that <see cref="DmarcRecord.IsDmarcRecord"/>
    /// accepts parses; a parsed record stays within the RFC's ranges, and printing it canonically and parsing that
    /// gives the same record. The text as a domain through <see cref="PublicSuffixList.OrganizationalDomain"/>: null,
    /// or a suffix of the normalized name that is not itself a public suffix.
    /// </summary>
    public static void Record(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var ok = DmarcRecord.TryParse(text, out var record, out var error);
        Require(ok == (record is not null) && ok == (error is null), "result is neither a record nor an error");
        if (!DmarcRecord.IsDmarcRecord(text)) Require(!ok, "parsed a record that does not start with v=DMARC1");

        if (record is not null)
        {
            Require(record.Percent is >= 0 and <= 100, "pct out of range");
            Require(!record.PolicyAssumed || (record.Policy == DmarcPolicy.None && record.SubdomainPolicy is null && record.AggregateReportUris.Count > 0),
                "p=none assumed without a valid rua");
            Require(record.FailureOptions.Count > 0 && record.FailureOptions.All(f => f is "0" or "1" or "d" or "s"), "bad fo");
            Require(record.ReportFormats.Count > 0, "no rf");
            Require(record.AggregateReportUris.All(u => u.Uri.Length > 0) && record.FailureReportUris.All(u => u.Uri.Length > 0), "empty URI");

            var canonical = Print(record);
            Require(DmarcRecord.TryParse(canonical, out var again, out var why), $"canonical form does not parse: {why}: {canonical}");
            Require(Same(record, again!), $"canonical form parses differently: {canonical}");
        }

        var organization = PublicSuffixList.Default.OrganizationalDomain(text);
        if (organization is not null)
        {
            var normalized = PublicSuffixList.Normalize(text);
            Require(normalized is not null, "organizational domain of something that is not a domain");
            Require(normalized == organization || normalized!.EndsWith("." + organization, StringComparison.Ordinal), "organizational domain is not a suffix");
            Require(!PublicSuffixList.Default.IsPublicSuffix(organization), "organizational domain is a public suffix");
            Require(PublicSuffixList.Default.OrganizationalDomain(organization) == organization, "organizational domain is not its own");
        }
    }

    private static string Print(DmarcRecord r)
    {
        var b = new StringBuilder("v=DMARC1; p=").Append(Name(r.Policy));
        if (r.SubdomainPolicy is { } sp) b.Append("; sp=").Append(Name(sp));
        b.Append("; adkim=").Append(r.DkimAlignment == DmarcAlignment.Strict ? 's' : 'r');
        b.Append("; aspf=").Append(r.SpfAlignment == DmarcAlignment.Strict ? 's' : 'r');
        b.Append("; pct=").Append(r.Percent.ToString(CultureInfo.InvariantCulture));
        b.Append("; fo=").AppendJoin(':', r.FailureOptions);
        b.Append("; rf=").AppendJoin(':', r.ReportFormats);
        b.Append("; ri=").Append(r.ReportInterval.ToString(CultureInfo.InvariantCulture));
        if (r.AggregateReportUris.Count > 0) b.Append("; rua=").AppendJoin(',', r.AggregateReportUris.Select(Uri));
        if (r.FailureReportUris.Count > 0) b.Append("; ruf=").AppendJoin(',', r.FailureReportUris.Select(Uri));
        return b.ToString();

        static string Uri(DmarcReportUri u) => u.MaxSize is { } size ? $"{u.Uri}!{size.ToString(CultureInfo.InvariantCulture)}" : u.Uri;
    }

    private static string Name(DmarcPolicy policy) => policy switch
    {
        DmarcPolicy.Reject => "reject",
        DmarcPolicy.Quarantine => "quarantine",
        _ => "none",
    };

    // Equal but for PolicyAssumed, which the canonical form (an explicit p=none) does not carry.
    private static bool Same(DmarcRecord a, DmarcRecord b) =>
        a.Policy == b.Policy && a.SubdomainPolicy == b.SubdomainPolicy && a.DkimAlignment == b.DkimAlignment &&
        a.SpfAlignment == b.SpfAlignment && a.Percent == b.Percent && a.ReportInterval == b.ReportInterval &&
        a.FailureOptions.SequenceEqual(b.FailureOptions) && a.ReportFormats.SequenceEqual(b.ReportFormats) &&
        a.AggregateReportUris.SequenceEqual(b.AggregateReportUris) && a.FailureReportUris.SequenceEqual(b.FailureReportUris);
}
