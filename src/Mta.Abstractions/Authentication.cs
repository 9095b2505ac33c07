// What the server found out about who sent a received message: SPF, DKIM, DMARC and ARC results, typed for hooks.
namespace Mta.Abstractions;

/// <summary>
/// The mail-authentication results of a received message, as the server wrote them into its
/// <c>Authentication-Results:</c> field (RFC 8601). Set on <see cref="ITransaction.Authentication"/> before the
/// data_post hooks run, so a handler can reject, tag or route on them without parsing a header:
/// <code>
/// On&lt;DataPostContext&gt;(ctx =&gt; ctx.Transaction.Authentication?.Dmarc?.Result == DmarcResult.Fail
///     ? HookResult.Reject("DMARC policy of the author's domain says no", 550, "5.7.1")
///     : HookResult.Continue);
/// </code>
/// A check that is switched off (<c>Authentication:Verify</c>) is null, or an empty list for DKIM.
/// </summary>
/// <param name="AuthServId">The authserv-id the results were recorded under (<c>Authentication:AuthServId</c>).</param>
/// <param name="Helo">SPF of the HELO/EHLO name (RFC 7208 2.3).</param>
/// <param name="MailFrom">SPF of the MAIL FROM identity (for <c>&lt;&gt;</c>, <c>postmaster@</c> the HELO name, RFC 7208 2.4).</param>
/// <param name="Dkim">One result per DKIM-Signature field checked, in header order (at most <c>Authentication:Verify:MaxSignatures</c>).</param>
/// <param name="Dmarc">DMARC (RFC 7489) of the <c>From:</c> domain.</param>
/// <param name="Arc">ARC chain validation (RFC 8617).</param>
public sealed record MessageAuthentication(
    string AuthServId,
    SpfCheck? Helo,
    SpfCheck? MailFrom,
    IReadOnlyList<DkimCheck> Dkim,
    DmarcCheck? Dmarc,
    ArcCheck? Arc)
{
    /// <summary>True when a DKIM signature of <paramref name="domain"/> (the <c>d=</c> tag, compared as a <see cref="Domain"/>: without case or trailing dot) passed.</summary>
    public bool DkimPassed(string domain) =>
        Dkim.Any(d => d.Result == DkimResult.Pass && Domain.NameComparer.Equals(d.Domain, domain));
}

/// <summary>SPF results (RFC 7208 section 2.6).</summary>
public enum SpfResult
{
    /// <summary>No SPF record, or no domain to check.</summary>
    None,
    /// <summary>The record says nothing about this address (<c>?all</c>, or no mechanism matched and no <c>all</c>).</summary>
    Neutral,
    /// <summary>The address is authorised.</summary>
    Pass,
    /// <summary>The address is not authorised (<c>-all</c>).</summary>
    Fail,
    /// <summary>Probably not authorised (<c>~all</c>).</summary>
    SoftFail,
    /// <summary>A transient DNS error; the check may succeed later.</summary>
    TempError,
    /// <summary>The record is broken or exceeded a lookup limit; only its publisher can fix it.</summary>
    PermError,
}

/// <summary>One SPF check.</summary>
/// <param name="Result">The result.</param>
/// <param name="Identity">What was checked, as written to <c>smtp.mailfrom</c> or <c>smtp.helo</c>: the sender address or the HELO name.</param>
/// <param name="Domain">The domain whose record was evaluated.</param>
/// <param name="Detail">The mechanism that matched, the record's explanation (<c>exp=</c>) for a fail, or what went wrong
/// for temperror and permerror. Null when there is nothing to say.</param>
public sealed record SpfCheck(SpfResult Result, string Identity, string Domain, string? Detail = null);

/// <summary>DKIM results (RFC 8601 section 2.7.1).</summary>
public enum DkimResult
{
    /// <summary>The message was not signed.</summary>
    None,
    /// <summary>The signature verified.</summary>
    Pass,
    /// <summary>The signature or body hash did not verify; <see cref="DkimCheck.Problem"/> says which.</summary>
    Fail,
    /// <summary>The signature verified but is unacceptable to local policy (e.g. rsa-sha1, or a key too short).</summary>
    Policy,
    /// <summary>The signature could not be processed (syntax error, unsupported algorithm).</summary>
    Neutral,
    /// <summary>The key could not be fetched now.</summary>
    TempError,
    /// <summary>The signature or its key record is unusable for good (no key, revoked, malformed).</summary>
    PermError,
}

/// <summary>Why a DKIM signature did not pass, where that is known.</summary>
public enum DkimProblem
{
    /// <summary>It passed, or nothing more precise is known.</summary>
    None,
    /// <summary>The body hash (<c>bh=</c>) does not match the body: the body changed in transit.</summary>
    BodyHashMismatch,
    /// <summary>The body hash matches but the signature (<c>b=</c>) does not verify: a signed header field changed,
    /// or the key does not match.</summary>
    SignatureMismatch,
    /// <summary>The DKIM-Signature field is malformed or lacks a required tag.</summary>
    MalformedSignature,
    /// <summary>The signature has expired (<c>x=</c>).</summary>
    Expired,
    /// <summary>The signature is dated in the future (<c>t=</c>).</summary>
    FutureTimestamp,
    /// <summary>No key record at <c>selector._domainkey.domain</c>.</summary>
    KeyNotFound,
    /// <summary>The key record has an empty <c>p=</c>: the key was revoked.</summary>
    KeyRevoked,
    /// <summary>The key record is malformed, or does not allow this algorithm, hash or service.</summary>
    KeyUnusable,
    /// <summary>The algorithm is not supported, or not accepted by policy (rsa-sha1).</summary>
    UnsupportedAlgorithm,
    /// <summary>The signature covers fewer body octets than the body has (<c>l=</c>) and policy refuses that, or
    /// <c>l=</c> is larger than the body.</summary>
    BodyLength,
    /// <summary>The <c>i=</c> identity is not in the <c>d=</c> domain, or the <c>From</c> field is not signed.</summary>
    IdentityMismatch,
    /// <summary>DNS failed for the key record.</summary>
    DnsFailure,
}

/// <summary>One DKIM-Signature field and its verification.</summary>
/// <param name="Result">The result.</param>
/// <param name="Domain">The signing domain (<c>d=</c>), or empty when the field had none.</param>
/// <param name="Selector">The selector (<c>s=</c>), or empty.</param>
/// <param name="Algorithm">The algorithm (<c>a=</c>), e.g. <c>rsa-sha256</c>, <c>ed25519-sha256</c>, or empty.</param>
/// <param name="Problem">Why it did not pass.</param>
/// <param name="Detail">A short human-readable reason, written as the comment of the result.</param>
/// <param name="Identity">The agent or user identifier (<c>i=</c>), or null.</param>
/// <param name="SignaturePrefix">The first 8 characters of <c>b=</c> (RFC 6008) to tell signatures apart, or null.</param>
/// <param name="Testing">True when the key record has <c>t=y</c>: the domain is testing DKIM.</param>
public sealed record DkimCheck(
    DkimResult Result,
    string Domain,
    string Selector,
    string Algorithm,
    DkimProblem Problem = DkimProblem.None,
    string? Detail = null,
    string? Identity = null,
    string? SignaturePrefix = null,
    bool Testing = false);

/// <summary>DMARC results (RFC 7489 section 11.2).</summary>
public enum DmarcResult
{
    /// <summary>No DMARC record for the author domain or its organisational domain (or no single author domain).</summary>
    None,
    /// <summary>An aligned SPF or DKIM pass.</summary>
    Pass,
    /// <summary>Neither SPF nor DKIM passed aligned with the author domain.</summary>
    Fail,
    /// <summary>DNS failed for the DMARC record.</summary>
    TempError,
    /// <summary>The <c>From:</c> field is unusable (several authors, no domain) or the record is broken.</summary>
    PermError,
}

/// <summary>A DMARC policy: what the domain owner asks receivers to do with mail that fails.</summary>
public enum DmarcPolicy
{
    /// <summary><c>p=none</c>: only report.</summary>
    None,
    /// <summary><c>p=quarantine</c>: treat as suspicious (a junk folder).</summary>
    Quarantine,
    /// <summary><c>p=reject</c>: refuse it.</summary>
    Reject,
}

/// <summary>One DMARC evaluation.</summary>
/// <param name="Result">The result.</param>
/// <param name="FromDomain">The author domain (the <c>From:</c> field's domain), or empty when there was none.</param>
/// <param name="PolicyDomain">The domain whose <c>_dmarc</c> record applied: the author domain or its organisational
/// domain. Null when no record was found.</param>
/// <param name="Policy">The policy the record asks for this message: <c>p=</c>, or <c>sp=</c> for a subdomain found
/// through its organisational domain.</param>
/// <param name="Disposition">What the policy means for this message: <see cref="DmarcPolicy.None"/> when it passed,
/// when the policy is none, or when it fell outside <c>pct=</c> (then one step milder, RFC 7489 6.6.4).</param>
/// <param name="DkimAligned">True when a passing DKIM signature is aligned with the author domain.</param>
/// <param name="SpfAligned">True when a passing SPF MAIL FROM identity is aligned with the author domain.</param>
/// <param name="Detail">What went wrong, for temperror and permerror; or a short explanation. Null when none.</param>
public sealed record DmarcCheck(
    DmarcResult Result,
    string FromDomain,
    string? PolicyDomain,
    DmarcPolicy Policy,
    DmarcPolicy Disposition,
    bool DkimAligned,
    bool SpfAligned,
    string? Detail = null);

/// <summary>ARC chain validation results (RFC 8617 section 4.4).</summary>
public enum ArcResult
{
    /// <summary>No ARC sets in the message.</summary>
    None,
    /// <summary>A valid chain.</summary>
    Pass,
    /// <summary>A broken chain: a seal or the latest message signature does not verify, or the sets are malformed.</summary>
    Fail,
}

/// <summary>One ARC chain validation.</summary>
/// <param name="Result">The result.</param>
/// <param name="Instances">How many ARC sets the message carries (the highest <c>i=</c>).</param>
/// <param name="Detail">Why it failed, or null.</param>
/// <param name="Domains">The sealing domains (<c>d=</c> of each ARC-Seal), oldest first, for a handler that trusts
/// some intermediaries.</param>
public sealed record ArcCheck(ArcResult Result, int Instances, string? Detail = null, IReadOnlyList<string>? Domains = null);
