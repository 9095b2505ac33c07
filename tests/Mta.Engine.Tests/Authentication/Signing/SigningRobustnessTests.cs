// Signing mutated messages (CRLF kept, as SMTP delivers them): the signer never throws, and every signature it makes
// verifies with dkimpy over the exact bytes.
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class SigningRobustnessTests : IDisposable
{
    private readonly SigningFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string Seed = "From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n carol@example.net\r\nSubject: Hello\r\n" +
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
        "Hi.  \r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>Grüße</p>\r\n--b--\r\nepilogue\r\n";

    // Pieces that keep every line end a CRLF: blanks, folds, empty lines, field syntax, 8-bit bytes, MIME delimiters.
    private static readonly string[] Insertions = [" ", "\t", "\r\n", "\r\n ", "\r\n\t", ":", ";", "=", "--b", "--b--", "\u00e9", "\u00ff", "\"", "<", ">", "From: x@example.org\r\n", "\r\n\r\n"];

    [Fact]
    public void Mutated_messages_are_signed_without_exceptions_and_verify()
    {
        var python = SignatureCheck.PythonWithDkim();
        _fixture.AddKey("example.org", "ed1", DkimKeyAlgorithm.Ed25519);
        var random = new Random(20261203);
        var signedMessages = new List<byte[]>();
        var store = _fixture.Store();
        foreach (var canonicalization in new[] { "relaxed/relaxed", "simple/simple" })
        {
            _fixture.Signing.Canonicalization = canonicalization;
            var signer = new DkimMessageSigner(store, _fixture.Signing, new FakeTimeProvider());
            for (var i = 0; i < 150; i++)
            {
                var message = Mutate(Seed, random, 1 + random.Next(6));
                var bytes = Encoding.UTF8.GetBytes(message);
                var fields = signer.CreateSignatureFields("example.org", bytes);
                if (fields.Count > 0) signedMessages.Add(SignatureCheck.Prepend(fields, bytes));
            }
        }

        Assert.True(signedMessages.Count > 200, $"only {signedMessages.Count} of 300 mutated messages were signed");
        if (python is null) Assert.Skip("python3-dkim is not installed");
        var verdicts = SignatureCheck.DkimpyVerify(python, signedMessages, store.AllKeys("example.org"));
        for (var i = 0; i < signedMessages.Count; i++)
            Assert.True(verdicts[i] is ["pass"] or ["unparsable"], $"dkimpy: {string.Join(' ', verdicts[i])}:\n{Encoding.UTF8.GetString(signedMessages[i])}");
        Assert.True(verdicts.Count(v => v is ["pass"]) > 150);
    }

    private static string Mutate(string text, Random random, int steps)
    {
        var lines = text.Split("\r\n").ToList();
        for (var step = 0; step < steps; step++)
        {
            switch (random.Next(4))
            {
                case 0: // insert a piece at a character position (never between a CR and its LF)
                    var joined = string.Join("\r\n", lines);
                    var at = random.Next(joined.Length + 1);
                    if (at > 0 && at < joined.Length && joined[at - 1] == '\r') at++;
                    lines = joined.Insert(at, Insertions[random.Next(Insertions.Length)]).Split("\r\n").ToList();
                    break;
                case 1 when lines.Count > 1: // delete a line
                    lines.RemoveAt(random.Next(lines.Count - 1));
                    break;
                case 2: // duplicate a line
                    var index = random.Next(lines.Count);
                    lines.Insert(index, lines[index]);
                    break;
                default: // drop the end
                    var all = string.Join("\r\n", lines);
                    var cut = random.Next(all.Length + 1);
                    if (cut > 0 && cut < all.Length && all[cut - 1] == '\r') cut++;
                    lines = all[..cut].Split("\r\n").ToList();
                    break;
            }
        }
        return string.Join("\r\n", lines);
    }
}
