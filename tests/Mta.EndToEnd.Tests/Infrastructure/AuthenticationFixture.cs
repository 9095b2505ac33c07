// Mail-authentication test helpers: a DKIM key pair, sender domains published on the stub DNS, signed and plain messages.
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Mta.EndToEnd.Tests.Infrastructure;

public static class AuthenticationFixture
{
    public static readonly Lazy<AsymmetricCipherKeyPair> RsaKeys = new(() =>
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new KeyGenerationParameters(new SecureRandom(), 2048));
        return generator.GenerateKeyPair();
    });

    public static string PublicRecord(AsymmetricKeyParameter publicKey) =>
        "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(publicKey).GetDerEncoded());

    /// <summary>sender.test: SPF allows 127.0.0.1, a DKIM key at s1, DMARC p=reject; the test client is 127.0.0.1.</summary>
    public static void PublishSender(MtaTestServer server, string dmarc = "v=DMARC1; p=reject")
    {
        server.Dns.AddTxt("sender.test", "v=spf1 ip4:127.0.0.1 -all");
        server.Dns.AddTxt("client.test", "v=spf1 ip4:127.0.0.1 -all");
        server.Dns.AddTxt("s1._domainkey.sender.test", PublicRecord(RsaKeys.Value.Public));
        server.Dns.AddTxt("_dmarc.sender.test", dmarc);
        // An author domain with a strict policy and nothing that could pass for it.
        server.Dns.AddTxt("bank.test", "v=spf1 ip4:192.0.2.1 -all");
        server.Dns.AddTxt("_dmarc.bank.test", dmarc);
    }

    public static string Signed(string from, string subject = "hello", string body = "A signed message.\r\n")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("sender.test");
        message.Date = DateTimeOffset.UtcNow;
        message.Body = new TextPart("plain") { Text = body };
        var signer = new DkimSigner(RsaKeys.Value.Private, "sender.test", "s1")
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        message.Prepare(EncodingConstraint.SevenBit);
        signer.Sign(message, [HeaderId.From, HeaderId.Subject, HeaderId.To, HeaderId.Date, HeaderId.MessageId]);
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(format, stream);
        return Encoding.ASCII.GetString(stream.ToArray());
    }

    public static string Plain(string from) =>
        $"From: {from}\r\nTo: alice@example.test\r\nSubject: unsigned\r\nMessage-ID: <u1@x.test>\r\n\r\nNo signature.\r\n";

    public static string HeaderOf(string message, string name) => HeadersOf(message, name).First();

    public static IEnumerable<string> HeadersOf(string message, string name)
    {
        var header = message[..message.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var unfolded = header.Replace("\r\n\t", " ").Replace("\r\n ", " ");
        foreach (var line in unfolded.Split("\r\n"))
        {
            if (line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)) yield return line[(name.Length + 1)..].Trim();
        }
    }
}
