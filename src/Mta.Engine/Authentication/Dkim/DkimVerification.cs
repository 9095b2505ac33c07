// Verifies the DKIM-Signature fields of a received message (RFC 6376, RFC 8463, RFC 8301) into typed DkimCheck results.
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Authentication.Dkim;

/// <summary>
/// Checks each DKIM-Signature field of a message, in header order, up to a limit. The steps follow RFC 6376 6.1:
/// the field's tags (<see cref="DkimSignatureFields"/>), its timestamps, the key record (<see cref="DnsDkimKeyLocator"/>)
/// and whether it fits the signature, then the body hash and then the header signature, each of the last two with
/// MimeKit's own canonicalization and crypto (<see cref="DkimVerifierBase"/>'s <c>VerifyBodyHash</c> and
/// <c>VerifySignature</c>), called separately so a changed body (<see cref="DkimProblem.BodyHashMismatch"/>) is told
/// apart from a changed signed header or a wrong key (<see cref="DkimProblem.SignatureMismatch"/>).
/// <para>Local policy (RFC 8301): rsa-sha1 and RSA keys shorter than the minimum give <see cref="DkimResult.Policy"/>
/// when the signature verifies and <see cref="DkimResult.Fail"/> when it does not. An expired signature (<c>x=</c>) or
/// one dated in the future (<c>t=</c>, beyond <see cref="ClockSkew"/>) is permerror: RFC 6376 6.1.1 lets a verifier
/// ignore it as PERMFAIL, which RFC 8601 writes as permerror. A signature with <c>l=</c> covering less than the body
/// passes, with a detail saying how much it covers (the unsigned rest may have been appended by anyone); one with
/// <c>l=</c> larger than the body fails (<see cref="DkimProblem.BodyLength"/>).</para>
/// Thread-safe. Never throws but for cancellation: anything unexpected becomes permerror with a detail.
/// </summary>
public sealed partial class DkimVerification
{
    /// <summary>How far a <c>t=</c> may lie in the future, and <c>x=</c> in the past, before it counts: clocks differ.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private readonly DnsDkimKeyLocator _locator;
    private readonly TimeProvider _time;
    private readonly int _maxSignatures;
    private readonly int _minimumRsaKeyBits;
    private readonly ILogger _logger;
    private readonly CryptoVerifier _crypto;

    /// <summary>A verifier asking <paramref name="dns"/> for keys.</summary>
    /// <param name="dns">The server's resolver.</param>
    /// <param name="time">The clock for <c>t=</c> and <c>x=</c>.</param>
    /// <param name="maxSignatures">How many DKIM-Signature fields to check at most (the first ones in header order).</param>
    /// <param name="minimumRsaKeyBits">Shorter RSA keys give policy (RFC 8301: at least 1024).</param>
    /// <param name="logger">Where each result is logged at debug level.</param>
    public DkimVerification(IDnsResolver dns, TimeProvider time, int maxSignatures = 5, int minimumRsaKeyBits = 1024,
        ILogger<DkimVerification>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSignatures);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumRsaKeyBits);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _locator = new DnsDkimKeyLocator(dns, _logger);
        _maxSignatures = maxSignatures;
        _minimumRsaKeyBits = minimumRsaKeyBits;
        _crypto = new CryptoVerifier(_locator);
    }

    /// <summary>One result per DKIM-Signature field, in header order, at most <c>maxSignatures</c>; empty when the message
    /// is not signed (the caller writes <c>dkim=none</c>).</summary>
    public async Task<IReadOnlyList<DkimCheck>> VerifyAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var results = new List<DkimCheck>();
        foreach (var header in message.Headers)
        {
            if (results.Count >= _maxSignatures) break;
            if (header.Id != HeaderId.DkimSignature) continue;
            cancellationToken.ThrowIfCancellationRequested();
            var fields = DkimSignatureFields.Parse(Encoding.UTF8.GetString(header.RawValue));
            DkimCheck check;
            try
            {
                check = await VerifyOneAsync(message, header, fields, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // MimeKit or BouncyCastle meeting input they did not expect: the signature cannot be processed, for good.
                LogUnexpected(_logger, fields.Domain, fields.Selector, ex);
                check = Result(fields, DkimResult.PermError, DkimProblem.None, "verification failed: " + ex.Message);
            }
            LogResult(_logger, check.Domain, check.Selector, check.Result, check.Problem, check.Detail);
            results.Add(check);
        }
        return results;
    }

    private async Task<DkimCheck> VerifyOneAsync(MimeMessage message, Header header, DkimSignatureFields fields, CancellationToken ct)
    {
        if (fields.Problem != DkimProblem.None) return Result(fields, fields.ProblemResult, fields.Problem, fields.Error);

        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)ClockSkew.TotalSeconds;
        if (fields.Expiration is { } x && now > x + skew)
            return Result(fields, DkimResult.PermError, DkimProblem.Expired, "the signature expired (x=)");
        if (fields.Timestamp is { } t && t > now + skew)
            return Result(fields, DkimResult.PermError, DkimProblem.FutureTimestamp, "the signature is dated in the future (t=)");

        var lookup = await _locator.LookupAsync(fields.Domain, fields.Selector, ct).ConfigureAwait(false);
        var testing = lookup.Record?.IsTesting ?? false;
        switch (lookup.Status)
        {
            case DkimKeyStatus.TemporaryFailure:
                return Result(fields, DkimResult.TempError, DkimProblem.DnsFailure, lookup.Error, testing);
            case DkimKeyStatus.NotFound:
                return Result(fields, DkimResult.PermError, DkimProblem.KeyNotFound, lookup.Error, testing);
            case DkimKeyStatus.Revoked:
                return Result(fields, DkimResult.PermError, DkimProblem.KeyRevoked, lookup.Error, testing);
            case DkimKeyStatus.Unusable:
                return Result(fields, DkimResult.PermError, DkimProblem.KeyUnusable, lookup.Error, testing);
        }
        var record = lookup.Record!;
        var key = lookup.Key!;
        var algorithm = fields.SignatureAlgorithm!.Value;

        var wantedKeyType = algorithm == DkimSignatureAlgorithm.Ed25519Sha256 ? "ed25519" : "rsa";
        if (record.KeyType != wantedKeyType || (wantedKeyType == "rsa") != key is RsaKeyParameters || (wantedKeyType == "ed25519") != key is Ed25519PublicKeyParameters)
            return Result(fields, DkimResult.PermError, DkimProblem.KeyUnusable, $"the key (k={record.KeyType}) does not fit a={fields.Algorithm}", testing);
        var hash = algorithm == DkimSignatureAlgorithm.RsaSha1 ? "sha1" : "sha256";
        if (!record.AllowsHash(hash))
            return Result(fields, DkimResult.PermError, DkimProblem.KeyUnusable, $"the key record does not allow {hash} (h=)", testing);
        if (!record.AllowsEmail)
            return Result(fields, DkimResult.PermError, DkimProblem.KeyUnusable, "the key record is not for email (s=)", testing);
        if (record.IsStrictIdentity && fields.Identity is { } identity
            && !Domain.NameComparer.Equals(identity[(identity.LastIndexOf('@') + 1)..], fields.Domain))
            return Result(fields, DkimResult.PermError, DkimProblem.IdentityMismatch, "the key record (t=s) requires the i= domain to be d=", testing);

        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;

        string? detail = null;
        var maxLength = -1;
        if (fields.BodyLength is { } signedLength)
        {
            var bodyLength = CanonicalBodyLength(message, options, fields.BodyCanonicalization == DkimCanonicalizationAlgorithm.Relaxed, ct);
            if (signedLength > bodyLength)
                return Result(fields, DkimResult.Fail, DkimProblem.BodyLength, $"l={signedLength} is longer than the body ({bodyLength} octets)", testing);
            if (signedLength < bodyLength)
                detail = $"the signature covers {signedLength} of {bodyLength} body octets (l=)";
            maxLength = (int)signedLength;
        }

        if (!CryptoVerifier.BodyHashMatches(options, message, algorithm, fields.BodyCanonicalization, maxLength, fields.BodyHash))
            return Result(fields, DkimResult.Fail, DkimProblem.BodyHashMismatch, "body hash did not verify", testing);
        if (!PlatformPass(message, header, fields, algorithm, key)
            && !_crypto.SignatureMatches(options, message, header, algorithm, key, [.. fields.SignedHeaders], fields.HeaderCanonicalization, fields.Signature))
            return Result(fields, DkimResult.Fail, DkimProblem.SignatureMismatch, "signature did not verify", testing);

        if (algorithm == DkimSignatureAlgorithm.RsaSha1)
            return Result(fields, DkimResult.Policy, DkimProblem.UnsupportedAlgorithm, "rsa-sha1 is not accepted (RFC 8301)", testing);
        if (key is RsaKeyParameters && record.KeyBits < _minimumRsaKeyBits)
            return Result(fields, DkimResult.Policy, DkimProblem.KeyUnusable,
                $"the RSA key has {record.KeyBits} bits, fewer than {_minimumRsaKeyBits} (RFC 8301)", testing);
        return Result(fields, DkimResult.Pass, DkimProblem.None, detail, testing);
    }

    /// <summary>rsa-sha256 through the platform's RSA first (a tenth of BouncyCastle's cost); anything but a pass there is
    /// decided by MimeKit's own check.</summary>
    private static bool PlatformPass(MimeMessage message, Header header, DkimSignatureFields fields, DkimSignatureAlgorithm algorithm,
        Org.BouncyCastle.Crypto.AsymmetricKeyParameter key)
    {
        if (algorithm != DkimSignatureAlgorithm.RsaSha256 || key is not RsaKeyParameters rsa) return false;
        try
        {
            return PlatformRsaHeaderVerifier.Verifies(message, header, fields.SignedHeaders, fields.HeaderCanonicalization, fields.Signature, rsa);
        }
        catch (CryptographicException)
        {
            return false; // a key the platform will not take (too short, odd exponent): MimeKit's check decides
        }
    }

    private static DkimCheck Result(DkimSignatureFields fields, DkimResult result, DkimProblem problem, string? detail, bool testing = false) =>
        new(result, fields.Domain, fields.Selector, fields.Algorithm, problem, detail, fields.Identity, fields.SignaturePrefix, testing);

    /// <summary>The length of the canonical body (RFC 6376 3.4.3 and 3.4.4), to compare with <c>l=</c>.</summary>
    private static long CanonicalBodyLength(MimeMessage message, FormatOptions options, bool relaxed, CancellationToken ct)
    {
        if (message.Body is null) return relaxed ? 0 : 2;
        using var body = new MemoryStream();
        using (var filtered = new MimeKit.IO.FilteredStream(body))
        {
            filtered.Add(new MimeKit.IO.Filters.Unix2DosFilter());
            message.Body.WriteTo(options, filtered, true, ct);
            filtered.Flush(ct);
        }
        return CanonicalBodyLength(body.GetBuffer().AsSpan(0, (int)body.Length), relaxed);
    }

    /// <summary>The canonical length of a body with CRLF line ends: trailing empty lines dropped, a final CRLF added,
    /// and with <paramref name="relaxed"/> whitespace runs counted as one space and trailing whitespace dropped.
    /// An empty body is CRLF under simple and nothing under relaxed.</summary>
    internal static long CanonicalBodyLength(ReadOnlySpan<byte> body, bool relaxed)
    {
        long total = 0, emptyLines = 0;
        var start = 0;
        while (start < body.Length)
        {
            var rest = body[start..];
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            start += end < 0 ? rest.Length : end + 2;
            var length = relaxed ? RelaxedLineLength(line) : line.Length;
            if (length == 0)
            {
                emptyLines++;
                continue;
            }
            total += emptyLines * 2 + length + 2;
            emptyLines = 0;
        }
        return total == 0 && !relaxed ? 2 : total;
    }

    private static long RelaxedLineLength(ReadOnlySpan<byte> line)
    {
        long length = 0;
        var pendingSpace = false;
        foreach (var b in line)
        {
            if (b is (byte)' ' or (byte)'\t')
            {
                pendingSpace = true;
                continue;
            }
            if (pendingSpace) length++;
            pendingSpace = false;
            length++;
        }
        return length;
    }

    /// <summary>MimeKit's DKIM canonicalization and crypto, reached through the protected members of its verifier base, so
    /// the body hash and the signature are checked as two steps.</summary>
    private sealed class CryptoVerifier(IDkimPublicKeyLocator locator) : DkimVerifierBase(locator)
    {
        public static bool BodyHashMatches(FormatOptions options, MimeMessage message, DkimSignatureAlgorithm algorithm,
            DkimCanonicalizationAlgorithm canonicalization, int maxLength, string bodyHash) =>
            VerifyBodyHash(options, message, algorithm, canonicalization, maxLength, bodyHash);

        public bool SignatureMatches(FormatOptions options, MimeMessage message, Header signature, DkimSignatureAlgorithm algorithm,
            AsymmetricKeyParameter key, string[] headers, DkimCanonicalizationAlgorithm canonicalization, string b) =>
            VerifySignature(options, message, signature, algorithm, key, headers, canonicalization, b);
    }

    [LoggerMessage(EventId = LogEvents.Authentication.DkimResult, Level = LogLevel.Debug, Message = "DKIM d={Domain} s={Selector}: {Result} {Problem} {Detail}")]
    private static partial void LogResult(ILogger logger, string domain, string selector, DkimResult result, DkimProblem problem, string? detail);

    [LoggerMessage(EventId = LogEvents.Authentication.DkimUnexpected, Level = LogLevel.Warning, Message = "DKIM d={Domain} s={Selector}: verification failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, string domain, string selector, Exception exception);
}
