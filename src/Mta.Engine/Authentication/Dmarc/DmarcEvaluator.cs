// DMARC (RFC 7489) for a received message: policy discovery in DNS, SPF and DKIM identifier alignment, pct sampling.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Engine.Authentication.Dmarc;

/// <summary>
/// Evaluates DMARC for one message from its author domain and the SPF and DKIM results already computed.
/// Thread-safe; never throws but for cancellation: DNS failures and broken records become
/// <see cref="DmarcResult.TempError"/> / <see cref="DmarcResult.PermError"/>.
/// </summary>
public sealed partial class DmarcEvaluator
{
    private readonly IDnsResolver _dns;
    private readonly PublicSuffixList _psl;
    private readonly Func<int> _pctRoll;
    private readonly ILogger _logger;

    /// <summary>Creates the evaluator.</summary>
    /// <param name="dns">The server's resolver.</param>
    /// <param name="psl">The Public Suffix List for organizational domains.</param>
    /// <param name="logger">Logger.</param>
    /// <param name="pctRoll">Draws the sample for <c>pct=</c>: a number from 0 to 99; the policy applies when it is
    /// below pct. Defaults to <see cref="Random.Shared"/>; tests inject a fixed value.</param>
    public DmarcEvaluator(IDnsResolver dns, PublicSuffixList psl, ILogger<DmarcEvaluator> logger, Func<int>? pctRoll = null)
    {
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _psl = psl ?? throw new ArgumentNullException(nameof(psl));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _pctRoll = pctRoll ?? (static () => Random.Shared.Next(100));
    }

    /// <summary>
    /// DMARC of a message (RFC 7489 6.6).
    /// </summary>
    /// <param name="fromDomains">The domains of the mailboxes in the <c>From:</c> field, as written (case, trailing
    /// dot and U-labels are normalized here). None, or several distinct ones, is a permerror.</param>
    /// <param name="dkim">The DKIM results of the message; only <see cref="DkimResult.Pass"/> ones count.</param>
    /// <param name="mailFromSpf">The SPF result of the MAIL FROM identity (the HELO name for a null reverse-path),
    /// or null when SPF was not checked.</param>
    /// <param name="cancellationToken">Cancels the DNS lookups.</param>
    public async Task<DmarcCheck> EvaluateAsync(IReadOnlyList<string> fromDomains, IReadOnlyList<DkimCheck> dkim, SpfCheck? mailFromSpf,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fromDomains);
        ArgumentNullException.ThrowIfNull(dkim);

        var authors = new List<string>();
        foreach (var raw in fromDomains)
        {
            var normalized = PublicSuffixList.Normalize(raw);
            if (normalized is null)
                return Done(Error(DmarcResult.PermError, raw ?? "", $"the From: domain '{raw}' is not a domain name"));
            if (!authors.Contains(normalized)) authors.Add(normalized);
        }
        // RFC 7489 6.6.1 allows checking each author and applying the strictest policy; a single answer is kept here.
        if (authors.Count == 0) return Done(Error(DmarcResult.PermError, "", "the From: field has no domain"));
        if (authors.Count > 1)
            return Done(Error(DmarcResult.PermError, "", $"the From: field has {authors.Count} different domains ({string.Join(", ", authors)})"));

        var from = authors[0];
        var organization = _psl.OrganizationalDomain(from);

        // Policy discovery (6.6.3): the author domain, then its organizational domain if that differs.
        var lookup = await LookupAsync(from, cancellationToken).ConfigureAwait(false);
        var policyDomain = from;
        if (lookup.Kind == LookupKind.NoRecord && organization is not null && organization != from)
        {
            lookup = await LookupAsync(organization, cancellationToken).ConfigureAwait(false);
            policyDomain = organization;
        }

        switch (lookup.Kind)
        {
            case LookupKind.TempError:
                return Done(Error(DmarcResult.TempError, from, $"_dmarc.{policyDomain}: {lookup.Detail}"));
            case LookupKind.NoRecord:
                return Done(Error(DmarcResult.None, from, policyDomain == from
                    ? $"no DMARC record at _dmarc.{from}"
                    : $"no DMARC record at _dmarc.{from} or _dmarc.{policyDomain}"));
            case LookupKind.Several:
                return Done(Error(DmarcResult.None, from, $"_dmarc.{policyDomain} has several DMARC records"));
            case LookupKind.Invalid:
                return Done(new DmarcCheck(DmarcResult.PermError, from, policyDomain, DmarcPolicy.None, DmarcPolicy.None, false, false,
                    $"_dmarc.{policyDomain}: {lookup.Detail}"));
        }

        var record = lookup.Record!;
        var dkimDomain = dkim.Where(d => d.Result == DkimResult.Pass)
            .Select(d => d.Domain)
            .FirstOrDefault(d => Aligned(d, from, organization, record.DkimAlignment));
        var spfAligned = mailFromSpf is { Result: SpfResult.Pass } && Aligned(mailFromSpf.Domain, from, organization, record.SpfAlignment);
        var dkimAligned = dkimDomain is not null;

        var policy = policyDomain != from && record.SubdomainPolicy is { } sp ? sp : record.Policy;
        string detail;
        DmarcResult result;
        var disposition = DmarcPolicy.None;
        if (dkimAligned || spfAligned)
        {
            result = DmarcResult.Pass;
            detail = dkimAligned ? $"aligned DKIM pass (d={PublicSuffixList.Normalize(dkimDomain) ?? dkimDomain})" : $"aligned SPF pass ({PublicSuffixList.Normalize(mailFromSpf!.Domain)})";
        }
        else
        {
            result = DmarcResult.Fail;
            detail = "no aligned SPF or DKIM pass";
            disposition = policy;
            if (policy != DmarcPolicy.None && record.Percent < 100)
            {
                var roll = _pctRoll();
                if (roll >= record.Percent)
                {
                    // 6.6.4: mail outside the sample gets the next milder policy, not none at once.
                    disposition = policy == DmarcPolicy.Reject ? DmarcPolicy.Quarantine : DmarcPolicy.None;
                    detail += $"; outside pct={record.Percent}, {Name(policy)} applied as {Name(disposition)}";
                }
            }
        }
        if (record.PolicyAssumed) detail += "; p= missing or invalid, read as none (rua given)";

        return Done(new DmarcCheck(result, from, policyDomain, policy, disposition, dkimAligned, spfAligned, detail));
    }

    // Strict: the same domain. Relaxed: the same organizational domain; a domain that is a public suffix has none,
    // so it aligns only with itself.
    private bool Aligned(string? domain, string from, string? fromOrganization, DmarcAlignment mode)
    {
        var normalized = PublicSuffixList.Normalize(domain);
        if (normalized is null) return false;
        if (normalized == from) return true;
        return mode == DmarcAlignment.Relaxed && fromOrganization is not null && _psl.OrganizationalDomain(normalized) == fromOrganization;
    }

    private async Task<Lookup> LookupAsync(string domain, CancellationToken cancellationToken)
    {
        var name = "_dmarc." + domain;
        DnsAnswer<string> answer;
        try
        {
            answer = await _dns.GetTxtAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // The resolver promises not to throw; a plugin's resolver might. A failure now may pass later.
            LogResolverThrew(name, e);
            return new Lookup(LookupKind.TempError, null, e.Message);
        }

        if (answer.Status == DnsStatus.TemporaryFailure) return new Lookup(LookupKind.TempError, null, answer.Error ?? "DNS failure");
        var records = answer.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        if (records.Count == 0) return new Lookup(LookupKind.NoRecord, null, $"no DMARC record at _dmarc.{domain}");
        if (records.Count > 1) return new Lookup(LookupKind.Several, null, null);
        if (!DmarcRecord.TryParse(records[0], out var record, out var error))
        {
            LogInvalidRecord(name, error!);
            return new Lookup(LookupKind.Invalid, null, error);
        }
        return new Lookup(LookupKind.Found, record, null);
    }

    private static DmarcCheck Error(DmarcResult result, string from, string detail) =>
        new(result, from, null, DmarcPolicy.None, DmarcPolicy.None, false, false, detail);

    private DmarcCheck Done(DmarcCheck check)
    {
        LogResult(check.FromDomain, check.Result, check.PolicyDomain, check.Disposition, check.Detail);
        return check;
    }

    private static string Name(DmarcPolicy policy) => policy switch
    {
        DmarcPolicy.Reject => "reject",
        DmarcPolicy.Quarantine => "quarantine",
        _ => "none",
    };

    private enum LookupKind { Found, NoRecord, Several, Invalid, TempError }

    private sealed record Lookup(LookupKind Kind, DmarcRecord? Record, string? Detail);

    [LoggerMessage(EventId = LogEvents.Authentication.DmarcResult, Level = LogLevel.Debug, Message = "DMARC of {FromDomain}: {Result} (policy domain {PolicyDomain}, disposition {Disposition}): {Detail}")]
    private partial void LogResult(string fromDomain, DmarcResult result, string? policyDomain, DmarcPolicy disposition, string? detail);

    [LoggerMessage(EventId = LogEvents.Authentication.DmarcInvalidRecord, Level = LogLevel.Debug, Message = "DMARC record at {Name} is invalid: {Error}")]
    private partial void LogInvalidRecord(string name, string error);

    [LoggerMessage(EventId = LogEvents.Authentication.DmarcResolverThrew, Level = LogLevel.Warning, Message = "DNS resolver threw for {Name}")]
    private partial void LogResolverThrew(string name, Exception exception);
}
