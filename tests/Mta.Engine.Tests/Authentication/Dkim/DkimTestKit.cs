// Shared fixtures for the DKIM and ARC tests: keys made once, a stub DNS zone with a real resolver, message helpers.
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Mta.Engine.Configuration;
using Mta.Engine.Dns;
using Mta.Testing;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Mta.Engine.Tests.Authentication.Dkim;

/// <summary>Key pairs generated once per test run (RSA generation is slow).</summary>
public static class DkimTestKeys
{
    private static readonly Lazy<AsymmetricCipherKeyPair> Rsa2048Lazy = new(() => Rsa(2048));
    private static readonly Lazy<AsymmetricCipherKeyPair> Rsa1024Lazy = new(() => Rsa(1024));
    private static readonly Lazy<AsymmetricCipherKeyPair> Rsa512Lazy = new(() => Rsa(512));
    private static readonly Lazy<AsymmetricCipherKeyPair> Ed25519Lazy = new(() =>
    {
        var generator = new Ed25519KeyPairGenerator();
        generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
        return generator.GenerateKeyPair();
    });

    public static AsymmetricCipherKeyPair Rsa2048 => Rsa2048Lazy.Value;
    public static AsymmetricCipherKeyPair Rsa1024 => Rsa1024Lazy.Value;
    public static AsymmetricCipherKeyPair Rsa512 => Rsa512Lazy.Value;
    public static AsymmetricCipherKeyPair Ed25519 => Ed25519Lazy.Value;

    private static AsymmetricCipherKeyPair Rsa(int bits)
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new KeyGenerationParameters(new SecureRandom(), bits));
        return generator.GenerateKeyPair();
    }

    /// <summary>The p= value: SubjectPublicKeyInfo DER for RSA, the raw 32 octets for ed25519 (RFC 8463).</summary>
    public static string PublicKeyBase64(AsymmetricKeyParameter publicKey) => publicKey switch
    {
        Ed25519PublicKeyParameters ed => Convert.ToBase64String(ed.GetEncoded()),
        _ => Convert.ToBase64String(SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(publicKey).GetDerEncoded()),
    };

    /// <summary>A key record for <paramref name="pair"/>, with extra tags before p=.</summary>
    public static string Record(AsymmetricCipherKeyPair pair, string extraTags = "") =>
        $"v=DKIM1; k={(pair.Public is Ed25519PublicKeyParameters ? "ed25519" : "rsa")}; {extraTags}p={PublicKeyBase64(pair.Public)}";
}

/// <summary>A stub DNS server and a real resolver pointed at it.</summary>
public sealed class DkimDns : IAsyncDisposable
{
    private DkimDns(StubDnsServer server)
    {
        Server = server;
        Resolver = new DnsResolver(new DnsOptions { Servers = [server.EndPoint.ToString()], Timeout = TimeSpan.FromMilliseconds(500), Retries = 0, CacheSize = 0 },
            TimeProvider.System, NullLogger<DnsResolver>.Instance);
    }

    public StubDnsServer Server { get; }
    public DnsResolver Resolver { get; }

    public static DkimDns Start() => new(StubDnsServer.Start());

    /// <summary>Publishes <paramref name="pair"/>'s public key at <c>selector._domainkey.domain</c>.</summary>
    public void Publish(string selector, string domain, AsymmetricCipherKeyPair pair, string extraTags = "") =>
        Server.AddTxt($"{selector}._domainkey.{domain}", DkimTestKeys.Record(pair, extraTags));

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>Messages as text with CRLF line ends, parsed the way the server parses what it received.</summary>
public static class DkimMessages
{
    public const string Plain =
        "From: Alice <alice@example.org>\r\n" +
        "To: Bob <bob@example.net>\r\n" +
        "Subject: Lunch on Thursday\r\n" +
        "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n" +
        "Message-ID: <lunch-1@example.org>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "\r\n" +
        "Shall we meet at noon?\r\n" +
        "\r\n" +
        "Alice\r\n";

    public static readonly string[] SignedFields = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"];

    public static MimeMessage Parse(string text) => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    /// <summary>The message as it goes over the wire, CRLF line ends.</summary>
    public static string Serialize(MimeMessage message)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(options, stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Replaces exactly one occurrence, so a test never tampers with the wrong thing silently.</summary>
    public static string ReplaceOnce(string text, string from, string to)
    {
        var at = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{from}' not in the message");
        Assert.Equal(at, text.LastIndexOf(from, StringComparison.Ordinal));
        return string.Concat(text.AsSpan(0, at), to, text.AsSpan(at + from.Length));
    }
}

/// <summary>
/// A deliberately small DKIM signer written from RFC 6376 alone (relaxed/relaxed, rsa-sha256), for the tags MimeKit's
/// signer cannot write (l=) and for arbitrary tag sets. It works on the message text, as a signing relay would.
/// </summary>
public static class ManualDkimSigner
{
    /// <summary>Signs <paramref name="message"/> (CRLF text); <paramref name="bodyLength"/> null signs all of the body, and
    /// <paramref name="declaredLength"/> overrides what l= says.</summary>
    public static string Sign(string message, AsymmetricKeyParameter privateKey, string domain, string selector, string[] fields,
        long? bodyLength = null, long? declaredLength = null)
    {
        var split = message.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var headerText = message[..(split + 2)];
        var body = message[(split + 4)..];

        var canonicalBody = RelaxedBody(body);
        var signedBody = bodyLength is { } n ? canonicalBody[..(int)n] : canonicalBody;
        var bh = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(signedBody)));

        var length = declaredLength ?? bodyLength;
        var tags = $"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector};{(length is null ? "" : $" l={length};")} t={DateTimeOffset.UtcNow.ToUnixTimeSeconds()};" +
                   $" h={string.Join(':', fields)}; bh={bh}; b=";

        var headers = ParseHeaders(headerText);
        var input = new StringBuilder();
        var used = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in fields)
        {
            // Several instances of a name are signed from the bottom up (RFC 6376 5.4.2).
            var instances = headers.Where(h => h.Name.Equals(field, StringComparison.OrdinalIgnoreCase)).ToList();
            var k = used.GetValueOrDefault(field);
            used[field] = k + 1;
            if (k >= instances.Count) continue;
            var (name, value) = instances[instances.Count - 1 - k];
            input.Append(RelaxedHeader(name, value)).Append("\r\n");
        }
        input.Append(RelaxedHeader("DKIM-Signature", tags));

        var signer = SignerUtilities.GetSigner("SHA256WITHRSA");
        signer.Init(true, privateKey);
        var bytes = Encoding.UTF8.GetBytes(input.ToString());
        signer.BlockUpdate(bytes, 0, bytes.Length);
        var b = Convert.ToBase64String(signer.GenerateSignature());
        return $"DKIM-Signature: {tags}{b}\r\n{message}";
    }

    private static List<(string Name, string Value)> ParseHeaders(string headerText)
    {
        var list = new List<(string, string)>();
        foreach (var line in headerText.Split("\r\n"))
        {
            if (line.Length == 0) continue;
            if (line[0] is ' ' or '\t') list[^1] = (list[^1].Item1, list[^1].Item2 + "\r\n" + line);
            else
            {
                var colon = line.IndexOf(':');
                list.Add((line[..colon], line[(colon + 1)..]));
            }
        }
        return list;
    }

    // RFC 6376 3.4.2: lower-case name, unfold, whitespace runs to one space, no whitespace at either end of the value.
    private static string RelaxedHeader(string name, string value)
    {
        var unfolded = value.Replace("\r\n", "", StringComparison.Ordinal);
        var compact = System.Text.RegularExpressions.Regex.Replace(unfolded, "[ \t]+", " ").Trim(' ');
        return name.Trim().ToLowerInvariant() + ":" + compact;
    }

    // RFC 6376 3.4.4: whitespace runs to one space, none at line ends, no empty lines at the end.
    public static string RelaxedBody(string body)
    {
        var lines = body.Split("\r\n").Select(l => System.Text.RegularExpressions.Regex.Replace(l, "[ \t]+", " ").TrimEnd(' ')).ToList();
        if (body.EndsWith("\r\n", StringComparison.Ordinal)) lines.RemoveAt(lines.Count - 1);
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return string.Concat(lines.Select(l => l + "\r\n"));
    }
}
