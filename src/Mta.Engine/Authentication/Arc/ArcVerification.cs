// Validates the ARC chain of a received message (RFC 8617 section 5.2) with MimeKit's ArcVerifier into an ArcCheck.
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Mta.Engine.Authentication.Dkim;
using Org.BouncyCastle.Crypto;

namespace Mta.Engine.Authentication.Arc;

/// <summary>
/// ARC chain validation. MimeKit's <see cref="ArcVerifier"/> checks the sets' structure, the <c>cv=</c> values, the newest
/// ARC-Message-Signature and every ARC-Seal; this class maps its answer to <see cref="ArcCheck"/> and says in the detail
/// which instance failed and why (including the key lookup error it saw). ARC has no temperror (RFC 8617 5.2): a key
/// that could not be fetched makes the chain fail, with the DNS error in the detail. ARC header fields that are all
/// unreadable still count as a chain, a failed one. Thread-safe. Never throws but for cancellation.
/// </summary>
public sealed partial class ArcVerification
{
    private const int MaxInstances = 50;

    private readonly IDkimPublicKeyLocator _locator;
    private readonly ILogger _logger;

    /// <summary>A validator fetching keys with <paramref name="locator"/> (normally a <see cref="DnsDkimKeyLocator"/>).</summary>
    public ArcVerification(IDkimPublicKeyLocator locator, ILogger? logger = null)
    {
        _locator = locator ?? throw new ArgumentNullException(nameof(locator));
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>A validator fetching keys from DNS with the server's resolver.</summary>
    public ArcVerification(IDnsResolver dns, ILogger? logger = null) : this(new DnsDkimKeyLocator(dns, logger), logger) { }

    /// <summary>Validates the chain: <see cref="ArcResult.None"/> without ARC header fields, else pass or fail.</summary>
    public async Task<ArcCheck> VerifyAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (instances, domains, any) = Survey(message);
        if (!any) return new ArcCheck(ArcResult.None, 0);

        var recorder = new RecordingLocator(_locator);
        ArcValidationResult validation;
        try
        {
            validation = await new ArcVerifier(recorder).VerifyAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogUnexpected(_logger, ex);
            return Done(new ArcCheck(ArcResult.Fail, instances, "ARC validation failed: " + ex.Message, domains));
        }
        // MimeKit's verifier turns every exception into a failed seal, cancellation included.
        cancellationToken.ThrowIfCancellationRequested();

        var check = validation.Chain switch
        {
            ArcSignatureValidationResult.Pass => new ArcCheck(ArcResult.Pass, instances, null, domains),
            ArcSignatureValidationResult.None => new ArcCheck(ArcResult.Fail, instances, "no readable ARC set (malformed ARC header fields)", domains),
            _ => new ArcCheck(ArcResult.Fail, instances, Explain(validation, recorder), domains),
        };
        return Done(check);
    }

    private ArcCheck Done(ArcCheck check)
    {
        LogResult(_logger, check.Result, check.Instances, check.Detail);
        return check;
    }

    /// <summary>The highest instance among the ARC fields, the ARC-Seal domains oldest first, and whether any ARC field exists.</summary>
    private static (int Instances, IReadOnlyList<string> Domains, bool Any) Survey(MimeMessage message)
    {
        var highest = 0;
        var any = false;
        var seals = new SortedDictionary<int, string>();
        foreach (var header in message.Headers)
        {
            if (header.Id is not (HeaderId.ArcSeal or HeaderId.ArcMessageSignature or HeaderId.ArcAuthenticationResults)) continue;
            any = true;
            var value = Encoding.UTF8.GetString(header.RawValue);
            // The AAR's i= sits before the authserv-id ("i=1; example.org; ..."), so the lenient tag reader finds it too.
            var tags = DkimTagList.ParseLeniently(value);
            if (!tags.TryGetValue("i", out var text)
                || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var instance)
                || instance is < 1 or > MaxInstances)
                continue;
            highest = Math.Max(highest, instance);
            if (header.Id == HeaderId.ArcSeal && tags.TryGetValue("d", out var domain))
                seals.TryAdd(instance, Domain.TryParse(domain, out var sealer) ? sealer.Name : domain);
        }
        return (highest, [.. seals.Values], any);
    }

    private static string Explain(ArcValidationResult validation, RecordingLocator recorder)
    {
        var reasons = new List<string>();
        var errors = validation.ChainErrors;
        void Add(ArcValidationErrors flag, string text)
        {
            if ((errors & flag) != 0) reasons.Add(text);
        }
        Add(ArcValidationErrors.InvalidArcSeal, "malformed ARC-Seal");
        Add(ArcValidationErrors.InvalidArcMessageSignature, "malformed ARC-Message-Signature");
        Add(ArcValidationErrors.InvalidArcAuthenticationResults, "malformed ARC-Authentication-Results");
        Add(ArcValidationErrors.MissingArcSeal, "an ARC set lacks its ARC-Seal");
        Add(ArcValidationErrors.MissingArcMessageSignature, "an ARC set lacks its ARC-Message-Signature");
        Add(ArcValidationErrors.MissingArcAuthenticationResults, "an ARC set lacks its ARC-Authentication-Results");
        Add(ArcValidationErrors.DuplicateArcSeal, "duplicate ARC-Seal");
        Add(ArcValidationErrors.DuplicateArcMessageSignature, "duplicate ARC-Message-Signature");
        Add(ArcValidationErrors.DuplicateArcAuthenticationResults, "duplicate ARC-Authentication-Results");
        Add(ArcValidationErrors.MissingArcSealChainValidationValue, "an ARC-Seal has no cv=");
        Add(ArcValidationErrors.InvalidArcSealChainValidationValue, "an ARC-Seal's cv= breaks the chain");

        if (validation.MessageSignature?.Signature == ArcSignatureValidationResult.Fail)
            reasons.Add($"ARC-Message-Signature i={InstanceOf(validation.MessageSignature.Header)} did not verify");
        if (validation.Seals is { } seals)
        {
            for (var i = seals.Length - 1; i >= 0; i--)
                if (seals[i] is { Signature: ArcSignatureValidationResult.Fail })
                    reasons.Add($"ARC-Seal i={i + 1} did not verify");
        }
        foreach (var failure in recorder.Failures.Distinct())
            reasons.Add(failure);
        return reasons.Count == 0 ? "the ARC chain did not validate" : string.Join("; ", reasons);
    }

    private static string InstanceOf(Header header) =>
        DkimTagList.ParseLeniently(Encoding.UTF8.GetString(header.RawValue)).GetValueOrDefault("i", "?");

    /// <summary>Passes lookups through and keeps why they failed: MimeKit's verifier swallows the exception.</summary>
    private sealed class RecordingLocator(IDkimPublicKeyLocator inner) : DkimPublicKeyLocatorBase
    {
        private readonly ConcurrentQueue<string> _failures = new();

        public IEnumerable<string> Failures => _failures;

        public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector,
            CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.LocatePublicKeyAsync(methods, domain, selector, cancellationToken).ConfigureAwait(false);
            }
            catch (DkimKeyLookupException ex)
            {
                _failures.Enqueue(ex.Lookup.Error ?? $"no key for s={selector} d={domain}");
                throw;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _failures.Enqueue($"key s={selector} d={domain}: {ex.Message}");
                throw;
            }
        }

        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("ARC keys are looked up asynchronously");
    }

    [LoggerMessage(EventId = LogEvents.Authentication.ArcResult, Level = LogLevel.Debug, Message = "ARC: {Result}, {Instances} instances {Detail}")]
    private static partial void LogResult(ILogger logger, ArcResult result, int instances, string? detail);

    [LoggerMessage(EventId = LogEvents.Authentication.ArcUnexpected, Level = LogLevel.Warning, Message = "ARC validation failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception exception);
}
