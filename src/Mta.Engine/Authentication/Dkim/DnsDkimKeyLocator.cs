// Finds DKIM public keys in DNS (selector._domainkey.domain TXT) through the server's resolver, for DKIM and ARC verification.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Org.BouncyCastle.Crypto;

namespace Mta.Engine.Authentication.Dkim;

/// <summary>How a key lookup ended.</summary>
public enum DkimKeyStatus
{
    /// <summary>A usable-looking record was found and its key decoded.</summary>
    Found,
    /// <summary>No key record at the name (NXDOMAIN, or no TXT record there).</summary>
    NotFound,
    /// <summary>The record has an empty <c>p=</c>.</summary>
    Revoked,
    /// <summary>The record (or, with several records, every one of them) is malformed, or its key cannot be decoded.</summary>
    Unusable,
    /// <summary>DNS failed; the lookup may succeed later.</summary>
    TemporaryFailure,
}

/// <summary>One key lookup: the status, the record when one parsed, the decoded key when found.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Name">The name queried.</param>
/// <param name="Record">The parsed record (also for a revoked or undecodable key), or null.</param>
/// <param name="Key">The key, when <see cref="DkimKeyStatus.Found"/>.</param>
/// <param name="Error">What went wrong, or null.</param>
public sealed record DkimKeyLookup(DkimKeyStatus Status, string Name, DkimKeyRecord? Record, AsymmetricKeyParameter? Key, string? Error);

/// <summary>MimeKit's key locator failing: carries the lookup so a caller that only sees the exception can report it.</summary>
public sealed class DkimKeyLookupException(DkimKeyLookup lookup) : Exception(lookup.Error ?? lookup.Status.ToString())
{
    /// <summary>The failed lookup.</summary>
    public DkimKeyLookup Lookup { get; } = lookup;
}

/// <summary>
/// Looks up <c>selector._domainkey.domain</c> TXT with the server's <see cref="IDnsResolver"/> (which caches for the TTL).
/// Several TXT records at the name leave the result undefined (RFC 6376 3.6.2.2); this locator takes the first one that
/// parses as a key record, so a stray non-DKIM TXT record beside the key does not break verification, and reports
/// the first one's error when none parses. As MimeKit's <see cref="IDkimPublicKeyLocator"/> (used by the ARC verifier)
/// a failed lookup throws <see cref="DkimKeyLookupException"/>; only the async path exists, since MimeKit's async
/// verifiers never call the synchronous one.
/// </summary>
public sealed partial class DnsDkimKeyLocator : DkimPublicKeyLocatorBase
{
    private readonly IDnsResolver _dns;
    private readonly ILogger _logger;

    /// <summary>A locator asking <paramref name="dns"/>.</summary>
    public DnsDkimKeyLocator(IDnsResolver dns, ILogger? logger = null)
    {
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Looks up and parses the key record of <paramref name="selector"/> in <paramref name="domain"/>. Never throws
    /// but for cancellation.</summary>
    public async Task<DkimKeyLookup> LookupAsync(string domain, string selector, CancellationToken cancellationToken)
    {
        var name = $"{selector}._domainkey.{domain.TrimEnd('.')}";
        if (selector.Length == 0 || domain.Length == 0 || name.Length > 253 || name.Contains("..", StringComparison.Ordinal)
            || name.AsSpan().IndexOfAny(" \t\r\n;@") >= 0)
            return new(DkimKeyStatus.Unusable, name, null, null, "the selector and domain do not make a DNS name");

        var answer = await _dns.GetTxtAsync(name, cancellationToken).ConfigureAwait(false);
        DkimKeyLookup lookup;
        if (answer.Status == DnsStatus.TemporaryFailure)
            lookup = new(DkimKeyStatus.TemporaryFailure, name, null, null, $"DNS failed for {name}: {answer.Error}");
        else if (!answer.HasRecords)
            lookup = new(DkimKeyStatus.NotFound, name, null, null, $"no key record at {name}");
        else
            lookup = Choose(name, answer.Records);
        LogLookup(_logger, name, lookup.Status, lookup.Error);
        return lookup;
    }

    private static DkimKeyLookup Choose(string name, IReadOnlyList<string> records)
    {
        string? firstError = null;
        foreach (var text in records)
        {
            if (!DkimKeyRecord.TryParse(text, out var record, out var error))
            {
                firstError ??= error;
                continue;
            }
            if (record!.IsRevoked) return new(DkimKeyStatus.Revoked, name, record, null, $"the key at {name} was revoked");
            return record.TryGetPublicKey(out var key, out error)
                ? new(DkimKeyStatus.Found, name, record, key, null)
                : new(DkimKeyStatus.Unusable, name, record, null, $"key record at {name}: {error}");
        }
        return new(DkimKeyStatus.Unusable, name, null, null, $"malformed key record at {name}: {firstError}");
    }

    /// <inheritdoc/>
    public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector,
        CancellationToken cancellationToken = default)
    {
        var lookup = await LookupAsync(domain, selector, cancellationToken).ConfigureAwait(false);
        return lookup.Key ?? throw new DkimKeyLookupException(lookup);
    }

    /// <summary>Not supported: DNS is asynchronous here, and MimeKit's async verifiers call <see cref="LocatePublicKeyAsync"/>.</summary>
    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("use LocatePublicKeyAsync: DKIM keys are looked up asynchronously");

    [LoggerMessage(EventId = LogEvents.Authentication.DkimKeyLookup, Level = LogLevel.Debug, Message = "DKIM key {Name}: {Status} {Error}")]
    private static partial void LogLookup(ILogger logger, string name, DkimKeyStatus status, string? error);
}
