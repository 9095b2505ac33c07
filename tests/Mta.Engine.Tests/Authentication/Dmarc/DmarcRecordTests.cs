// DmarcRecord.TryParse and IsDmarcRecord: RFC 7489 6.3/6.4 tags, defaults, the rua fallback of 6.6.3, malformed records.
using Mta.Abstractions;
using Mta.Engine.Authentication.Dmarc;

namespace Mta.Engine.Tests.Authentication.Dmarc;

public class DmarcRecordTests
{
    private static DmarcRecord Parse(string text)
    {
        Assert.True(DmarcRecord.TryParse(text, out var record, out var error), error);
        Assert.Null(error);
        return record!;
    }

    [Fact]
    public void A_minimal_record_gets_the_RFC_defaults()
    {
        var r = Parse("v=DMARC1; p=reject");
        Assert.Equal(DmarcPolicy.Reject, r.Policy);
        Assert.Null(r.SubdomainPolicy);
        Assert.Equal(DmarcAlignment.Relaxed, r.DkimAlignment);
        Assert.Equal(DmarcAlignment.Relaxed, r.SpfAlignment);
        Assert.Equal(100, r.Percent);
        Assert.Equal(["0"], r.FailureOptions);
        Assert.Equal(["afrf"], r.ReportFormats);
        Assert.Equal(86400u, r.ReportInterval);
        Assert.Empty(r.AggregateReportUris);
        Assert.Empty(r.FailureReportUris);
        Assert.False(r.PolicyAssumed);
    }

    [Fact]
    public void Every_tag_is_read()
    {
        var r = Parse("v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=s; pct=25; fo=1:d : s; rf=afrf:iodef; ri=3600; " +
                      "rua=mailto:agg@example.com!10m, mailto:other@example.net; ruf=mailto:ruf@example.com!500");
        Assert.Equal(DmarcPolicy.Quarantine, r.Policy);
        Assert.Equal(DmarcPolicy.Reject, r.SubdomainPolicy);
        Assert.Equal(DmarcAlignment.Strict, r.DkimAlignment);
        Assert.Equal(DmarcAlignment.Strict, r.SpfAlignment);
        Assert.Equal(25, r.Percent);
        Assert.Equal(["1", "d", "s"], r.FailureOptions);
        Assert.Equal(["afrf", "iodef"], r.ReportFormats);
        Assert.Equal(3600u, r.ReportInterval);
        Assert.Equal([new DmarcReportUri("mailto:agg@example.com", 10UL << 20), new DmarcReportUri("mailto:other@example.net", null)],
            r.AggregateReportUris);
        Assert.Equal([new DmarcReportUri("mailto:ruf@example.com", 500)], r.FailureReportUris);
    }

    [Theory]
    [InlineData("v=DMARC1;p=none", DmarcPolicy.None)]
    [InlineData("  v = DMARC1 ;  p = quarantine ;  ", DmarcPolicy.Quarantine)]
    [InlineData("v=DMARC1; p=Reject", DmarcPolicy.Reject)]                 // keywords are ABNF strings: any case
    [InlineData("v=DMARC1; P=REJECT", DmarcPolicy.Reject)]
    [InlineData("V=DMARC1; p=reject", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject;", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject;;", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1;\tp=reject\t", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; np=reject; p=none; psd=y; t=n", DmarcPolicy.None)]  // unknown (DMARCbis) tags ignored
    [InlineData("v=DMARC1; p=reject; pct=0", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject; pct=100", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject; pct=007", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject; rf=afrf:future-format", DmarcPolicy.Reject)] // unknown formats are allowed
    [InlineData("v=DMARC1; p=reject; ri=99999999999999999999", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject; rua=mailto:a@example.com, bad uri, mailto:b@example.com", DmarcPolicy.Reject)]
    [InlineData("v=DMARC1; p=reject; rua=https://report.example/dmarc", DmarcPolicy.Reject)]
    public void Valid_records(string text, DmarcPolicy expected) => Assert.Equal(expected, Parse(text).Policy);

    [Theory]
    [InlineData("", "does not start with v=DMARC1")]
    [InlineData("p=reject; v=DMARC1", "does not start with v=DMARC1")]       // v= must come first
    [InlineData("v=dmarc1; p=reject", "does not start with v=DMARC1")]       // the version is exact octets
    [InlineData("v=DMARC2; p=reject", "does not start with v=DMARC1")]
    [InlineData("v=DMARC10; p=reject", "does not start with v=DMARC1")]
    [InlineData("v=DMARC1 p=reject", "does not start with v=DMARC1")]        // no separator
    [InlineData("v=spf1 -all", "does not start with v=DMARC1")]
    [InlineData("v=DMARC1", "no p= tag")]
    [InlineData("v=DMARC1; sp=reject", "no p= tag")]
    [InlineData("v=DMARC1; p=", "p= is not none")]
    [InlineData("v=DMARC1; p=block", "p=block is not none")]
    [InlineData("v=DMARC1; p=reject; sp=maybe", "sp=maybe is not none")]
    [InlineData("v=DMARC1; p=reject; p=none", "occurs twice")]
    [InlineData("v=DMARC1; v=DMARC1; p=none", "occurs twice")]
    [InlineData("v=DMARC1; p=reject; adkim=x", "adkim=x is not r or s")]
    [InlineData("v=DMARC1; p=reject; adkim=relaxed", "adkim=relaxed")]
    [InlineData("v=DMARC1; p=reject; aspf=", "aspf= is not r or s")]
    [InlineData("v=DMARC1; p=reject; pct=101", "pct=101")]
    [InlineData("v=DMARC1; p=reject; pct=-1", "pct=-1")]
    [InlineData("v=DMARC1; p=reject; pct=50%", "pct=50%")]
    [InlineData("v=DMARC1; p=reject; pct=1000", "pct=1000")]
    [InlineData("v=DMARC1; p=reject; pct= ", "pct=")]
    [InlineData("v=DMARC1; p=reject; fo=2", "fo=2")]
    [InlineData("v=DMARC1; p=reject; fo=1:", "fo=1:")]
    [InlineData("v=DMARC1; p=reject; rf=", "rf=")]
    [InlineData("v=DMARC1; p=reject; rf=a f", "rf=a f")]
    [InlineData("v=DMARC1; p=reject; ri=1h", "ri=1h")]
    [InlineData("v=DMARC1; p=reject; ri=123456789012345678901234567890123", "ri=")]
    [InlineData("v=DMARC1; p=reject; rua=agg@example.com", "rua=agg@example.com holds no valid URI")]
    [InlineData("v=DMARC1; p=reject; rua=/var/reports", "rua=")]
    [InlineData("v=DMARC1; p=reject; rua=mailto:a@example.com!10x", "rua=")]
    [InlineData("v=DMARC1; p=reject; ruf=", "ruf=")]
    [InlineData("v=DMARC1; p=reject; junk", "'junk' is not tag=value")]
    [InlineData("v=DMARC1; p=reject; =x", "no valid tag name")]
    [InlineData("v=DMARC1; p=reject; 1x=y", "no valid tag name")]
    public void Malformed_records(string text, string why)
    {
        Assert.False(DmarcRecord.TryParse(text, out var record, out var error));
        Assert.Null(record);
        Assert.NotNull(error);
        Assert.Contains(why, error);
    }

    [Fact]
    public void Null_is_no_record()
    {
        Assert.False(DmarcRecord.TryParse(null, out var record, out var error));
        Assert.Null(record);
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("v=DMARC1; rua=mailto:agg@example.com")]
    [InlineData("v=DMARC1; p=block; rua=mailto:agg@example.com")]
    [InlineData("v=DMARC1; p=reject; sp=maybe; rua=mailto:agg@example.com")]
    public void A_missing_or_invalid_policy_with_a_valid_rua_reads_as_none(string text)
    {
        var r = Parse(text);
        Assert.Equal(DmarcPolicy.None, r.Policy);
        Assert.Null(r.SubdomainPolicy);
        Assert.True(r.PolicyAssumed);
        Assert.Equal("mailto:agg@example.com", Assert.Single(r.AggregateReportUris).Uri);
    }

    [Theory]
    [InlineData("mailto:a@example.com!1k", 1024UL)]
    [InlineData("mailto:a@example.com!2M", 2UL << 20)]
    [InlineData("mailto:a@example.com!3g", 3UL << 30)]
    [InlineData("mailto:a@example.com!4t", 4UL << 40)]
    [InlineData("mailto:a@example.com!99999999999999999999999t", ulong.MaxValue)]
    public void Report_size_limits(string uri, ulong size) =>
        Assert.Equal(size, Assert.Single(Parse("v=DMARC1; p=none; rua=" + uri).AggregateReportUris).MaxSize);

    [Theory]
    [InlineData("v=DMARC1; p=reject", true)]
    [InlineData("v=DMARC1", true)]
    [InlineData("  v = DMARC1 ; p=broken", true)]   // selected, then found invalid by the parser
    [InlineData("v=DMARC1 p=reject", false)]
    [InlineData("v=DMARC1x; p=reject", false)]
    [InlineData("v=dmarc1; p=reject", false)]
    [InlineData("p=reject; v=DMARC1", false)]
    [InlineData("v=spf1 -all", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_records_starting_with_the_version_tag_are_DMARC_records(string? text, bool expected) =>
        Assert.Equal(expected, DmarcRecord.IsDmarcRecord(text));
}
