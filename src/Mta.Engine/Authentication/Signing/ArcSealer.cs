// ARC sealing (RFC 8617): adds ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results with a domain's DKIM key.
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Engine.Configuration;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Seals a raw message as an ARC intermediary, on MimeKit's <see cref="ArcSigner"/>.
/// <list type="bullet">
/// <item>Key: the domain's first signing RSA key, else its first signing key (Ed25519): RFC 8617 deployments verify
/// rsa-sha256 everywhere, ed25519-sha256 seldom.</item>
/// <item>ARC-Authentication-Results: the results of the message's topmost <c>Authentication-Results:</c> field with our
/// authserv-id (none when there is none), with <c>arc=</c> replaced by this sealer's own validation of the existing chain.</item>
/// <item>cv=: <c>none</c> without a chain, else the existing chain validated with MimeKit's <see cref="ArcVerifier"/> through the
/// given key locator. MimeKit's verifier does not tell an unreachable key from a bad one: both make the chain fail.</item>
/// <item>Nothing is added (empty result, logged) when the domain has no key, the header section cannot be parsed, the chain
/// already has 50 sets (RFC 8617 4.2.1), an existing seal says cv=fail, or the ARC fields are too broken to number.</item>
/// <item>ARC-Message-Signature uses relaxed/relaxed and the same header fields as DKIM (<see cref="SignedHeaderFields"/>).</item>
/// <item>A set sealed with cv=fail covers the earlier sets too (MimeKit's way; dkimpy covers only the new one). Validators stop
/// at the first cv=fail (RFC 8617 5.2), so the difference is never looked at.</item>
/// </list></summary>
public sealed partial class ArcSealer
{
    /// <summary>RFC 8617 4.2.1: instance values run from 1 to 50.</summary>
    public const int MaxInstance = 50;

    private readonly DkimKeyStore _keys;
    private readonly DkimSigningOptions _options;
    private readonly IDkimPublicKeyLocator _keyLocator;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <param name="keyLocator">Finds the public keys of the existing chain's seals (the server's DNS key locator).</param>
    public ArcSealer(DkimKeyStore keys, DkimSigningOptions options, IDkimPublicKeyLocator keyLocator, TimeProvider time, ILogger<ArcSealer>? logger = null)
    {
        _keys = keys;
        _options = options;
        _keyLocator = keyLocator;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Whether <paramref name="domain"/> has a key to seal with (and signing is enabled).</summary>
    public bool CanSeal(string domain) => _options.Enabled && _keys.HasKey(domain);

    /// <summary>The key a seal for <paramref name="domain"/> is made with, or null.</summary>
    public DkimSigningKey? SealingKey(string domain)
    {
        var keys = _keys.SigningKeysFor(domain);
        return keys.FirstOrDefault(k => k.Algorithm == DkimKeyAlgorithm.Rsa) ?? keys.FirstOrDefault();
    }

    /// <summary>The ARC set to put in front of <paramref name="message"/>: <c>ARC-Seal:</c>, <c>ARC-Message-Signature:</c>,
    /// <c>ARC-Authentication-Results:</c>, in that order, each folded with CRLF line ends; empty when no set is added (see the
    /// class remarks). Put them in front of any DKIM-Signature added at the same time.</summary>
    /// <param name="domain">The sealing domain (<c>d=</c>).</param>
    /// <param name="message">The whole message as it will be sent, CRLF line ends, including our own
    /// <c>Authentication-Results:</c> field.</param>
    /// <param name="authServId">Our authserv-id (<c>Authentication:AuthServId</c>).</param>
    public async Task<IReadOnlyList<string>> CreateArcSetFieldsAsync(string domain, ReadOnlyMemory<byte> message, string authServId, CancellationToken cancellationToken)
    {
        if (!_options.Enabled) return [];
        var key = SealingKey(domain);
        if (key is null) return [];
        var parsed = SignableMessage.Parse(message);
        if (parsed is null)
        {
            LogNotSealed(_logger, domain, "the header section cannot be parsed");
            return [];
        }

        var highest = HighestInstance(parsed);
        if (highest is null)
        {
            LogNotSealed(_logger, domain, "an existing ARC field has no usable instance (i=)");
            return [];
        }
        if (highest >= MaxInstance)
        {
            LogNotSealed(_logger, domain, $"the chain already has {MaxInstance} ARC sets");
            return [];
        }

        var chain = ArcSignatureValidationResult.None;
        if (highest > 0)
        {
            var validation = await new ArcVerifier(_keyLocator).VerifyAsync(FormatOptions.Default, parsed, cancellationToken);
            chain = validation.Chain;
        }

        var results = OurResults(parsed, authServId);
        results.Results.RemoveAll(r => r.Method.Equals("arc", StringComparison.OrdinalIgnoreCase));
        if (highest > 0 || results.Results.Count > 0)
            results.Results.Add(new AuthenticationMethodResult("arc", chain.ToString().ToLowerInvariant()));

        var before = parsed.Headers.Count;
        var signer = new Signer(key, results, _time.GetUtcNow().ToUnixTimeSeconds())
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        try
        {
            await signer.SignAsync(FormatOptions.Default, parsed, SignedHeaderFields.For(parsed), cancellationToken);
        }
        catch (FormatException ex)
        {
            LogNotSealed(_logger, domain, "the existing ARC fields are malformed: " + ex.Message);
            return [];
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or OutOfMemoryException))
        {
            LogNotSealed(_logger, domain, "MimeKit failed: " + ex.Message);
            return [];
        }
        if (parsed.Headers.Count != before + 3)
        {
            LogNotSealed(_logger, domain, "an existing ARC-Seal has cv=fail");
            return [];
        }
        LogSealed(_logger, domain, key.Selector, highest.Value + 1, chain.ToString().ToLowerInvariant());
        return [.. parsed.Headers.Take(3).Select(DkimMessageSigner.FieldText)];
    }

    // The payload of the topmost Authentication-Results field that is ours; any other host's are not to be trusted.
    private static AuthenticationResults OurResults(MimeMessage message, string authServId)
    {
        foreach (var header in message.Headers)
        {
            if (header.Id != HeaderId.AuthenticationResults) continue;
            if (AuthenticationResults.TryParse(header.RawValue, out var parsed) &&
                string.Equals(parsed.AuthenticationServiceIdentifier, authServId, StringComparison.OrdinalIgnoreCase))
            {
                var copy = new AuthenticationResults(authServId);
                copy.Results.AddRange(parsed.Results);
                return copy;
            }
        }
        return new AuthenticationResults(authServId);
    }

    private static readonly Regex InstanceTag = new(@"(?:^|;)\s*i\s*=\s*([0-9]{1,9})\s*(?:;|$)", RegexOptions.CultureInvariant);

    // The highest i= of the existing ARC fields, 0 without any, null when one has no readable i=.
    private static int? HighestInstance(MimeMessage message)
    {
        var highest = 0;
        foreach (var header in message.Headers)
        {
            if (header.Id is not (HeaderId.ArcSeal or HeaderId.ArcMessageSignature or HeaderId.ArcAuthenticationResults)) continue;
            var match = InstanceTag.Match(header.Value);
            if (!match.Success) return null;
            highest = Math.Max(highest, int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        }
        return highest;
    }

    // MimeKit asks a subclass for the ARC-Authentication-Results payload and reads the clock itself; both are fixed here.
    private sealed class Signer(DkimSigningKey key, AuthenticationResults results, long timestamp)
        : ArcSigner(key.PrivateKey, key.Domain, key.Selector, DkimMessageSigner.SignatureAlgorithm(key.Algorithm))
    {
        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) => results;

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(results);

        protected override long GetTimestamp() => timestamp;

        // Both ARC signatures (AMS and seal) through the platform's RSA, as DKIM signatures are.
        protected override Org.BouncyCastle.Crypto.ISigner CreateSigningContext() =>
            key.Algorithm == DkimKeyAlgorithm.Rsa ? PlatformRsaSha256Signer.ForSigning(key.PrivateKey) ?? base.CreateSigningContext() : base.CreateSigningContext();
    }

    [LoggerMessage(EventId = LogEvents.Authentication.ArcNotSealed, Level = LogLevel.Warning, Message = "ARC: not sealed for {Domain}: {Reason}")]
    private static partial void LogNotSealed(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = LogEvents.Authentication.ArcSealed, Level = LogLevel.Debug, Message = "ARC: sealed for {Domain} with selector {Selector}, i={Instance}, cv={ChainValidation}")]
    private static partial void LogSealed(ILogger logger, string domain, string selector, int instance, string chainValidation);
}
