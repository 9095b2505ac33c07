// Fuzz targets for the DKIM parsers (key record, DKIM-Signature tags) and the verifiers fed a fuzzed field; also
// compiled into tests/Mta.Engine.Tests, whose DkimFuzzCorpusTests replays fuzz/corpus/dkim* through these checks.
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Authentication.Arc;
using Mta.Engine.Authentication.Dkim;

namespace Mta.Fuzz;

/// <summary>A violated invariant of the DKIM targets.</summary>
public sealed class DkimInvariantException(string message) : Exception(message);

public static class DkimChecks
{
    private const string Message =
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: fuzz\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody line\r\n";

    // An RSA-1024 key record served for every name, so fuzzed fields reach the key checks and the crypto.
    private const string FixedKeyRecord =
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDPGgNEqLVbhL6jE53PaEUl7mPQ6WbLS2btzJMwRlAg4Fy6DNt8Q6JoQldldfyEgVjSHSXyi+1FV1aSfIqoXsV/YqMJupjwSJ7mx8vgi3psg6xlVyhUyjXTvh6lhqkze/3QLhjxnguSPWA7Q/reJ8fSk/Kq3v+jzrEs9CajH5TCHQIDAQAB";

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new DkimInvariantException(what);
    }

    /// <summary>
    /// dkimkey: the input as a key record. Never throws; success exactly when a record and no error come back; a
    /// record's key decodes or reports an error (never both, never neither), and a revoked record has no key.
    /// </summary>
    public static void KeyRecord(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var parsed = DkimKeyRecord.TryParse(text, out var record, out var error);
        Require(parsed == (record is not null) && parsed == (error is null), "TryParse: result, record and error disagree");
        if (!DkimTagList.TryParse(text, out _, out _)) Require(!parsed, "a record parsed from a malformed tag-list");
        _ = DkimTagList.ParseLeniently(text);
        if (record is null) return;
        var hasKey = record.TryGetPublicKey(out var key, out var keyError);
        Require(hasKey == (key is not null) && hasKey == (keyError is null), "TryGetPublicKey: result, key and error disagree");
        Require(hasKey == (record.KeyBits > 0), "KeyBits without a key, or a key without bits");
        Require(!(record.IsRevoked && hasKey), "a revoked record has a key");
        _ = (record.IsTesting, record.IsStrictIdentity, record.AllowsEmail, record.AllowsHash("sha256"), record.IsKnownKeyType);
    }

    /// <summary>
    /// dkimsig: the input as a DKIM-Signature value. The tag parser never throws and a field it accepts has what
    /// verification needs; then the whole message through DkimVerification and, with the input as an ARC-Seal and as an
    /// ARC-Message-Signature, through ArcVerification: one result each, never an exception.
    /// </summary>
    public static void Signature(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var fields = DkimSignatureFields.Parse(text);
        Require((fields.Problem == Mta.Abstractions.DkimProblem.None) == (fields.Error is null), "Problem and Error disagree");
        Require(fields.SignaturePrefix is null || fields.SignaturePrefix.Length is > 0 and <= 8, "SignaturePrefix is not 1 to 8 characters");
        if (fields.Problem == Mta.Abstractions.DkimProblem.None)
        {
            Require(fields.Domain.Length > 0 && fields.Selector.Length > 0, "an accepted field has no d= or s=");
            Require(fields.SignatureAlgorithm is not null, "an accepted field has no known algorithm");
            Require(fields.SignedHeaders.Contains("from", StringComparer.OrdinalIgnoreCase), "an accepted field does not sign From");
            Require(DkimTagList.IsBase64(fields.Signature) && DkimTagList.IsBase64(fields.BodyHash), "an accepted field has bad base64");
        }

        // One line: a CR or LF in the input would start another header field, which MimeKit parses on its own terms.
        var line = text.Replace('\r', ' ').Replace('\n', ' ');
        var dns = new FixedDns();
        var dkim = new DkimVerification(dns, TimeProvider.System).VerifyAsync(Load("DKIM-Signature: " + line), CancellationToken.None).GetAwaiter().GetResult();
        Require(dkim.Count == 1, "one DKIM-Signature field gave " + dkim.Count + " results");
        var arc = new ArcVerification(dns);
        foreach (var field in new[] { "ARC-Seal: ", "ARC-Message-Signature: " })
        {
            var check = arc.VerifyAsync(Load(field + line), CancellationToken.None).GetAwaiter().GetResult();
            Require(check.Result != ArcResult.Pass, "a lone fuzzed ARC field passed");
        }
    }

    private static MimeMessage Load(string field) =>
        MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(field + "\r\n" + Message)));

    private sealed class FixedDns : IDnsResolver
    {
        public ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<string>.Found([FixedKeyRecord]));

        public ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<IPAddress>.NotFound("NXDOMAIN"));

        public ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<MxHost>.NotFound("NXDOMAIN"));

        public ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<string>.NotFound("NXDOMAIN"));
    }
}
