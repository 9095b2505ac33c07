// Signs a raw message with each of its domain's DKIM keys and returns the DKIM-Signature fields to prepend.
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Engine.Configuration;

namespace Mta.Engine.Authentication.Signing;

/// <summary>DKIM signing (RFC 6376, RFC 8463) on MimeKit's <see cref="DkimSigner"/>. One signature per signing selector of
/// the domain (an rsa-sha256 and an ed25519-sha256 selector give two). The header fields signed are
/// <see cref="SignedHeaderFields"/>'; <c>t=</c> comes from the <see cref="TimeProvider"/>, <c>x=</c> from
/// <see cref="DkimSigningOptions.Expiration"/>. Used by the server and by <c>mta dkim sign</c>.</summary>
public sealed partial class DkimMessageSigner
{
    private readonly DkimKeyStore _keys;
    private readonly DkimSigningOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DkimCanonicalizationAlgorithm _headerCanonicalization;
    private readonly DkimCanonicalizationAlgorithm _bodyCanonicalization;

    /// <exception cref="ArgumentException"><see cref="DkimSigningOptions.Canonicalization"/> is not one of the four forms.</exception>
    public DkimMessageSigner(DkimKeyStore keys, DkimSigningOptions options, TimeProvider time, ILogger<DkimMessageSigner>? logger = null)
    {
        _keys = keys;
        _options = options;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        if (!DkimCanonicalization.TryParse(options.Canonicalization, out _headerCanonicalization, out _bodyCanonicalization))
            throw new ArgumentException($"Authentication:Signing:Canonicalization: '{options.Canonicalization}' is not relaxed/relaxed, relaxed/simple, simple/relaxed or simple/simple", nameof(options));
    }

    /// <summary>Whether <see cref="CreateSignatureFields"/> would sign for <paramref name="domain"/>.</summary>
    public bool CanSign(string domain) => _options.Enabled && _keys.HasKey(domain);

    /// <summary>The <c>DKIM-Signature:</c> fields (each folded, each line ending in CRLF) to put in front of
    /// <paramref name="message"/>; empty when signing is disabled, the domain has no signing key, or the header section
    /// cannot be parsed. The message must be exactly the bytes that will be sent (CRLF line ends), and the fields must be
    /// prepended to it unchanged.</summary>
    /// <param name="domain">The signing domain (<c>d=</c>), normally the <c>From:</c> domain.</param>
    /// <param name="message">The whole message: header section, empty line, body.</param>
    public IReadOnlyList<string> CreateSignatureFields(string domain, ReadOnlyMemory<byte> message) =>
        CreateSignatureFields(domain, () => SignableMessage.Parse(message));

    /// <summary>As <see cref="CreateSignatureFields(string, ReadOnlyMemory{byte})"/>, for a message read through a seekable
    /// stream (one too large to hold in memory): the header section must end within <paramref name="headerWindow"/>
    /// octets, and the body is read from the stream for the body hash.</summary>
    internal IReadOnlyList<string> CreateSignatureFields(string domain, Func<Stream> open, int headerWindow) =>
        CreateSignatureFields(domain, () => SignableMessage.Parse(open, headerWindow));

    private IReadOnlyList<string> CreateSignatureFields(string domain, Func<MimeMessage?> parse)
    {
        if (!_options.Enabled) return [];
        var keys = _keys.SigningKeysFor(domain);
        if (keys.Count == 0) return [];
        var parsed = parse();
        if (parsed is null)
        {
            LogUnparsable(_logger, domain);
            return [];
        }

        var fields = SignedHeaderFields.For(parsed);
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        var signatures = new List<string>(keys.Count);
        foreach (var key in keys)
        {
            try
            {
                signatures.Add(SignOne(parsed, key, fields, timestamp));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The message comes from the network: whatever MimeKit makes of it, the mail still goes, unsigned by this key.
                LogSigningFailed(_logger, ex, domain, key.Selector);
            }
        }
        return signatures;
    }

    private string SignOne(MimeMessage parsed, DkimSigningKey key, string[] fields, long timestamp)
    {
        var signer = new TimedDkimSigner(key, timestamp)
        {
            HeaderCanonicalizationAlgorithm = _headerCanonicalization,
            BodyCanonicalizationAlgorithm = _bodyCanonicalization,
            // Whole seconds: MimeKit adds the span's TotalSeconds (a double) to t=.
            SignaturesExpireAfter = _options.Expiration is { } expiry ? TimeSpan.FromSeconds(Math.Ceiling(expiry.TotalSeconds)) : null,
        };
        signer.Sign(FormatOptions.Default, parsed, fields);
        // Sign() inserted the new field at the top; take it out so the next key signs the message without it.
        var header = parsed.Headers[0];
        parsed.Headers.RemoveAt(0);
        return FieldText(header);
    }

    /// <summary>A header field exactly as MimeKit folded (and, for simple canonicalization, signed) it, with CRLF line ends.</summary>
    internal static string FieldText(Header header)
    {
        var value = Encoding.ASCII.GetString(header.RawValue).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        if (!value.EndsWith("\r\n", StringComparison.Ordinal)) value += "\r\n";
        return header.Field + ":" + value;
    }

    internal static DkimSignatureAlgorithm SignatureAlgorithm(DkimKeyAlgorithm algorithm) =>
        algorithm == DkimKeyAlgorithm.Ed25519 ? DkimSignatureAlgorithm.Ed25519Sha256 : DkimSignatureAlgorithm.RsaSha256;

    // MimeKit reads the clock itself; t= must come from the injected TimeProvider.
    private sealed class TimedDkimSigner(DkimSigningKey key, long timestamp)
        : DkimSigner(key.PrivateKey, key.Domain, key.Selector, SignatureAlgorithm(key.Algorithm))
    {
        protected override long GetTimestamp() => timestamp;

        // BouncyCastle's RSA is about 17 times slower than the platform's (OpenSSL on Linux); the hash MimeKit feeds it is
        // the same either way, so an RSA key signs through System.Security.Cryptography.
        protected override Org.BouncyCastle.Crypto.ISigner CreateSigningContext() =>
            key.Algorithm == DkimKeyAlgorithm.Rsa ? PlatformRsaSha256Signer.ForSigning(key.PrivateKey) ?? base.CreateSigningContext() : base.CreateSigningContext();
    }

    [LoggerMessage(EventId = LogEvents.Authentication.DkimSigningFailed, Level = LogLevel.Error, Message = "DKIM: signing for {Domain} with selector {Selector} failed; the message goes without that signature")]
    private static partial void LogSigningFailed(ILogger logger, Exception exception, string domain, string selector);

    [LoggerMessage(EventId = LogEvents.Authentication.DkimUnparsable, Level = LogLevel.Warning, Message = "DKIM: the message's header section cannot be parsed; not signed for {Domain}")]
    private static partial void LogUnparsable(ILogger logger, string domain);
}
